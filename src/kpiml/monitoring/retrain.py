"""Pure parts of `kpiml retrain`: the recent window, the KPI metric, the history record.

The challenger is trained on the new training data without its most recent labelled window
and both models are compared on that window, which neither has seen (the champion was
trained earlier; the challenger never gets it), so the comparison is of performance on the
newest customers, the ones the promoted model will score next. What is compared is what is
promoted: the challenger is not refitted on the window afterwards (a refit would be a third
model nobody measured).

"Most recent" means the latest rows by the spec's time column when it has one, else the last
rows of the file (exports and snapshots append new rows at the end).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from kpiml.errors import KpimlError
from kpiml.monitoring.challenger import ChallengerComparison

HISTORY_FILE = "retrain_history.jsonl"
CHAMPION_FILE = "champion.json"
MIN_WINDOW = 100


def recent_window(frame: pd.DataFrame, share: float, time_column: str | None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(older rows, most recent rows, how the window was chosen)."""
    n = len(frame)
    size = round(share * n)
    if size < MIN_WINDOW or n - size < MIN_WINDOW:
        raise KpimlError(f"The new training data has {n:,} rows: too few for a comparison window of {share:.0%}",
                         expected=f"at least {MIN_WINDOW} rows in the window and {MIN_WINDOW} to train on",
                         got=f"{size} window rows", fix="pass more labelled rows, or change --window")
    if time_column is not None and time_column in frame.columns:
        order = np.argsort(pd.to_datetime(frame[time_column], errors="coerce").to_numpy(), kind="stable")
        how = f"the latest {size:,} rows by '{time_column}'"
    else:
        order = np.arange(n)
        how = f"the last {size:,} rows of the file (no time column in the spec)"
    older, recent = frame.iloc[order[: n - size]], frame.iloc[order[n - size:]]
    return older.reset_index(drop=True), recent.reset_index(drop=True), how


def comparison_metric(spec: Any) -> tuple[str, Callable[[np.ndarray, np.ndarray], float], str | None]:
    """The KPI metric of the spec as `(y, p) -> float` (higher is better), with a note when it
    falls back: per-row values (a value column) cannot follow bootstrap resamples of `(y, p)`,
    so such KPIs are compared on ROC-AUC."""
    from kpiml.evaluation.metrics import get_scorer
    from kpiml.kpi.economics import has_economics
    from kpiml.kpi.scorer import kpi_metric, kpi_metric_name

    kpi = spec.kpi
    if has_economics(kpi) and not kpi.economics.value_column:
        return kpi_metric_name(kpi), kpi_metric(kpi), None
    note = "the KPI values each row (a value column), so the comparison uses ROC-AUC" if has_economics(kpi) else None
    name = "roc_auc" if has_economics(kpi) else (spec.metrics.primary or "roc_auc")
    scorer = get_scorer(name, "binary")
    return name, lambda y, p: scorer.objective(y, np.column_stack([1 - p, p])), note


class RetrainRecord(BaseModel):
    """One line of the retrain history: what was compared, on what, and what was decided."""

    time: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    data: str
    champion: str
    champion_version: str | None = None
    challenger: str
    challenger_version: str | None = None
    train_rows: int
    window: str
    comparison: ChallengerComparison
    promoted: bool
    champion_after: str
    notes: list[str] = Field(default_factory=list)


def append_history(folder: Path, record: RetrainRecord) -> Path:
    """Append the record to DIR/retrain_history.jsonl (rewritten atomically: all lines or the old file)."""
    from kpiml.atomic import write_text_atomic

    path = Path(folder) / HISTORY_FILE
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    write_text_atomic(path, old + record.model_dump_json() + "\n")
    return path


def read_history(folder: Path) -> list[RetrainRecord]:
    path = Path(folder) / HISTORY_FILE
    if not path.is_file():
        return []
    return [RetrainRecord.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_champion(folder: Path, model: str, version: str | None) -> Path:
    """DIR/champion.json: the bundle (and registry version) to serve now."""
    from kpiml.atomic import write_text_atomic

    path = Path(folder) / CHAMPION_FILE
    write_text_atomic(path, json.dumps({"model": model, "version": version}, indent=2))
    return path
