"""The verdict (ok / watch / retrain) and the reasons behind it.

Levels, from the evidence each source can carry:
* feature drift and data quality: the column's own level (see `drift` and `quality`);
* prediction drift: at most watch. A deterministic model's scores move only when its inputs
  do (already judged column by column) or when the model or pipeline changed; moved scores
  shift how many rows pass the operating point, which calls for a look, not by itself a
  retrain;
* live quality: retrain when at least `min_outcomes` outcomes arrived and the AUC fell by
  `metric_drop_retrain` or more below the training AUC and beyond noise (its 95 % upper bound
  is still below the training AUC); watch when the drop is that large but within noise;
* KPI impact: watch when acting demonstrably hurts (the interval of the effect lies wholly
  on the wrong side): the operating point or the action needs a look, not the model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from kpiml.monitoring.drift import ColumnDrift, DriftReport
from kpiml.monitoring.impact import ImpactResult
from kpiml.monitoring.live import LiveQuality
from kpiml.monitoring.quality import QualityReport
from kpiml.monitoring.thresholds import LEVELS, Level, Thresholds, level_for, worst

Source = Literal["drift", "score", "quality", "live", "impact"]


class Reason(BaseModel):
    level: Level
    source: Source
    column: str | None = None
    metric: str
    value: float | None = None
    threshold: float | None = None
    message: str


class Verdict(BaseModel):
    level: Level
    reasons: list[Reason]
    notes: list[str] = Field(default_factory=list, description="Facts that raised no level (e.g. too few outcomes).")

    def columns(self, level: Level = "watch") -> list[str]:
        """Input columns named by reasons at `level` or worse (scores excluded)."""
        floor = max(LEVELS.index(level), 1)
        return sorted({r.column for r in self.reasons if r.column and r.source != "score" and LEVELS.index(r.level) >= floor})


def _drift_metric(d: ColumnDrift, t: Thresholds) -> tuple[str, float, float]:
    """The measure that set a column's level, its value and the threshold it passed."""
    retrain = d.level == "retrain"
    if level_for(d.distance, t.distance_watch, t.distance_retrain) == d.level:
        name = "ks_statistic" if d.test == "ks" else "total_variation"
        return name, d.distance, t.distance_retrain if retrain else t.distance_watch
    return "psi", d.psi, t.psi_retrain if retrain else t.psi_watch


def drift_reasons(drift: DriftReport, t: Thresholds) -> list[Reason]:
    out = []
    for d in drift.columns:
        if d.level != "ok":
            metric, value, thr = _drift_metric(d, t)
            out.append(Reason(level=d.level, source="drift", column=d.column, metric=metric, value=value, threshold=thr,
                              message=f"'{d.column}' drifted: {d.reason}"))
    s = drift.score
    if s is not None and s.level != "ok":
        metric, value, thr = _drift_metric(s.model_copy(update={"level": "watch"}), t)
        out.append(Reason(level="watch", source="score", column="score", metric=metric, value=value, threshold=thr,
                          message=f"the score distribution moved: {s.reason}"))
    return out


def quality_reasons(quality: QualityReport) -> list[Reason]:
    return [Reason(level=i.level, source="quality", column=i.column, metric=i.check, value=i.value, message=i.message)
            for i in quality.issues if i.level != "ok"]


def live_reasons(live: LiveQuality, t: Thresholds) -> tuple[list[Reason], list[str]]:
    if live.rows < t.min_outcomes:
        return [], [f"only {live.rows} outcomes (live quality is judged from {t.min_outcomes})"]
    if live.auc_drop is None or live.auc_drop < t.metric_drop_retrain:
        return [], []
    level: Level = "retrain" if live.drop_beyond_noise else "watch"
    noise = "beyond noise" if live.drop_beyond_noise else "within noise"
    return [Reason(level=level, source="live", metric="roc_auc_drop", value=live.auc_drop, threshold=t.metric_drop_retrain,
                   message=f"AUC fell from {live.reference_auc:.3f} to {live.auc:.3f} ({noise}, {live.rows} outcomes)")], []


def impact_reasons(impact: ImpactResult, direction: Literal["reduce", "increase"]) -> list[Reason]:
    out = []
    d = impact.rate_difference
    hurts = d.low > 0 if direction == "reduce" else d.high < 0
    if hurts:
        out.append(Reason(level="watch", source="impact", metric="rate_difference", value=d.estimate,
                          message=f"acting moved the KPI the wrong way: treated minus control {d.estimate:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"))
    v = impact.incremental_value
    if v is not None and v.high < 0:
        out.append(Reason(level="watch", source="impact", metric="incremental_value", value=v.estimate,
                          message=f"acting lost money: {v.estimate:,.0f} [{v.low:,.0f}, {v.high:,.0f}]"))
    return out


def decide(
    thresholds: Thresholds, *, drift: DriftReport | None = None, quality: QualityReport | None = None,
    live: LiveQuality | None = None, impact: ImpactResult | None = None, direction: Literal["reduce", "increase"] = "reduce",
) -> Verdict:
    """The worst level over every reason, with the reasons (most severe first)."""
    reasons: list[Reason] = []
    notes: list[str] = []
    if drift is not None:
        reasons += drift_reasons(drift, thresholds)
    if quality is not None:
        reasons += quality_reasons(quality)
    if live is not None:
        found, notes = live_reasons(live, thresholds)
        reasons += found
    if impact is not None:
        reasons += impact_reasons(impact, direction)
        if not impact.enough:
            notes.append(f"the control group is small ({impact.control_rows} rows): the KPI impact is imprecise")
    reasons.sort(key=lambda r: -LEVELS.index(r.level))
    return Verdict(level=worst([r.level for r in reasons]), reasons=reasons, notes=notes)
