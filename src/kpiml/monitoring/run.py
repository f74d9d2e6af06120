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
from kpiml.monitoring.impact import ImpactResult, kpi_impact, realised_row_value
from kpiml.monitoring.live import LiveQuality, live_quality
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


def _untreated_weights(act: np.ndarray, control: np.ndarray) -> np.ndarray:
    """Weight 0 for treated rows, 1 for rows not acted on, 1/share for control rows: the
    control rows then stand for every row the model acted on (inverse probability weighting)."""
    held = act & control
    share = held.sum() / max(act.sum(), 1)
    return np.where(act & ~control, 0.0, np.where(held, 1.0 / share, 1.0))


def outcome_sections(
    y: np.ndarray, scores: np.ndarray, *, act: np.ndarray | None = None, control: np.ndarray | None = None,
    expected_value: np.ndarray | None = None, reference_auc: float | None = None, outcome_value: float | None = None,
    treatment_cost: float = 0.0, confidence: float = 0.95,
) -> tuple[LiveQuality, ImpactResult | None]:
    """Live quality and KPI impact from scored rows joined with their outcomes.

    Acting changes the outcome of treated rows (a retained churner no longer churns), so live
    quality is measured on untreated rows only when a control group exists, the control rows
    weighted to stand for all acted rows; without one, on every row (then a working treatment
    makes the model look worse than it is). The forecast profit is the sum of the expected
    values of the treated rows; the realised profit is the incremental value that the
    treated-versus-control comparison measures (with its interval in the impact section)."""
    y = np.asarray(y, dtype=np.int8)
    s = np.asarray(scores, dtype=np.float64)
    a = None if act is None else np.asarray(act, dtype=bool)
    c = None if control is None else np.asarray(control, dtype=bool)
    if a is None or c is None or not (a & c).any():
        return live_quality(y, s, reference_auc=reference_auc, act=a, expected_value=expected_value), None
    w = _untreated_weights(a, c)
    keep = w > 0
    live = live_quality(y[keep], s[keep], reference_auc=reference_auc, weights=w[keep])
    treated = a & ~c
    value = None if outcome_value is None else realised_row_value(y, treated, outcome_value=outcome_value, treatment_cost=treatment_cost)
    impact = kpi_impact(y, a, c, value, confidence)
    forecast = None if expected_value is None else float(np.asarray(expected_value, dtype=np.float64)[treated].sum())
    realised = None if impact.incremental_value is None else impact.incremental_value.estimate
    return live.model_copy(update={"acted_rows": int(treated.sum()), "forecast_profit": forecast, "realised_profit": realised}), impact
