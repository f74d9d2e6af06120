"""Every threshold monitoring applies, in one settings model built from the spec.

The spec's `monitoring` block owns the PSI thresholds, the metric drop and the minimum
number of outcomes; the rest are kpiml defaults, named and documented here so that a
reader of `monitor.json` (which records them) can see exactly which rule fired.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kpiml.spec import MonitoringBlock

Level = Literal["ok", "watch", "retrain"]
LEVELS: tuple[Level, ...] = ("ok", "watch", "retrain")


def worst(levels: list[Level] | tuple[Level, ...]) -> Level:
    """The most severe of some levels (ok < watch < retrain)."""
    return max(levels, key=LEVELS.index, default="ok")


def level_for(value: float | None, watch: float, retrain: float) -> Level:
    """Level of a value against a watch and a retrain threshold (None is ok)."""
    if value is None:
        return "ok"
    if value >= retrain:
        return "retrain"
    return "watch" if value >= watch else "ok"


class Thresholds(BaseModel):
    """Drift, data-quality and live-quality thresholds used by one monitoring run."""

    model_config = ConfigDict(extra="forbid")

    # Drift: a column drifts only when its corrected p-value is below `alpha` AND its effect
    # is material (PSI or distance at or above the level's threshold).
    psi_watch: float = Field(default=0.1, gt=0)
    psi_retrain: float = Field(default=0.25, gt=0)
    distance_watch: float = Field(default=0.075, gt=0, le=1, description="KS statistic / total variation distance.")
    distance_retrain: float = Field(default=0.10, gt=0, le=1)
    # With no drift, a run alarms by chance with probability ~alpha (the correction holds the
    # family-wise rate there); on small batches every distance passes the materiality bar, so
    # alpha alone guards them. 0.001 is one false alarm in ~3 years of daily runs, while a
    # material move on a few hundred rows or more has a p-value orders of magnitude smaller.
    alpha: float = Field(default=0.001, gt=0, lt=1, description="Level of the corrected tests.")
    correction: Literal["fdr_bh", "holm", "bonferroni"] = "fdr_bh"
    # Data quality: shares of rows.
    new_category_watch: float = 0.01
    new_category_retrain: float = 0.10
    missing_jump_watch: float = 0.05
    missing_jump_retrain: float = 0.20
    out_of_range_watch: float = 0.01
    out_of_range_retrain: float = 0.10
    quality_alpha: float = Field(default=0.001, gt=0, lt=1, description="Binomial test level for share jumps.")
    # Live quality (from the spec).
    metric_drop_retrain: float = Field(default=0.05, gt=0)
    min_outcomes: int = Field(default=200, gt=0)

    @classmethod
    def from_spec(cls, block: MonitoringBlock, **overrides: float | int | str) -> Thresholds:
        """The spec's thresholds with kpiml's defaults for the rest."""
        base = {
            "psi_watch": block.psi_watch, "psi_retrain": block.psi_retrain,
            "metric_drop_retrain": block.metric_drop_retrain, "min_outcomes": block.min_outcomes,
        }
        return cls.model_validate({**base, **overrides})
