"""One monitoring run: new rows (and, when given, outcomes) against the reference.

Pure: the caller (the `kpiml monitor` command) reads the bundle, the new data, the decision
log and the outcomes, scores the rows, and passes frames and arrays; this returns one
`MonitorResult` that the renderer writes as monitor.json and monitor.html.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from kpiml.monitoring.drift import DriftReport, drift_report
from kpiml.monitoring.impact import ImpactResult
from kpiml.monitoring.live import LiveQuality
from kpiml.monitoring.quality import Contract, QualityReport, check_quality
from kpiml.monitoring.reference import CategoricalReference, Reference, category_text
from kpiml.monitoring.thresholds import Thresholds
from kpiml.monitoring.verdict import Verdict, decide

RESULT_VERSION = 1


class MonitorResult(BaseModel):
    """Everything one monitoring run found; dumped as monitor.json."""

    version: int = RESULT_VERSION
    created: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    model: str = ""
    data: str = ""
    rows: int
    thresholds: Thresholds
    drift: DriftReport
    quality: QualityReport | None = None
    live: LiveQuality | None = None
    impact: ImpactResult | None = None
    verdict: Verdict

    @property
    def exit_code(self) -> int:
        """1 when the verdict is retrain, so cron or CI can act on it; 0 otherwise."""
        return 1 if self.verdict.level == "retrain" else 0


def category_value_counts(reference: Reference, data: pd.DataFrame, contract: Contract | None) -> dict[str, pd.Series]:
    """Category counts of every categorical column, computed once for drift and quality (the
    most expensive step on a million rows of text)."""
    names = {n for n, r in reference.columns.items() if isinstance(r, CategoricalReference)}
    names |= {n for n, c in (contract or {}).items() if c.get("type") in ("categorical", "boolean")}
    return {n: category_text(data[n]).value_counts(dropna=True) for n in sorted(names) if n in data.columns}


def monitor(
    reference: Reference, data: pd.DataFrame, *, scores: np.ndarray | None = None, contract: Contract | None = None,
    thresholds: Thresholds | None = None, live: LiveQuality | None = None, impact: ImpactResult | None = None,
    direction: Literal["reduce", "increase"] = "reduce", model: str = "", source: str = "",
) -> MonitorResult:
    """Drift and quality of `data`, plus live quality and impact computed from outcomes, judged."""
    t = thresholds or Thresholds()
    counts = category_value_counts(reference, data, contract)
    drift = drift_report(reference, data, scores, t, counts)
    quality = check_quality(data, contract, t, counts) if contract is not None else None
    verdict = decide(t, drift=drift, quality=quality, live=live, impact=impact, direction=direction)
    return MonitorResult(model=model, data=source, rows=len(data), thresholds=t, drift=drift, quality=quality,
                         live=live, impact=impact, verdict=verdict)
