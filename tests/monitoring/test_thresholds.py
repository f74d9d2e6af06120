"""Tests of kpiml.monitoring.thresholds: the settings of one monitoring run."""

from __future__ import annotations

import pytest

from kpiml.monitoring.thresholds import Thresholds, level_for, worst
from kpiml.spec import MonitoringBlock


def test_spec_thresholds_are_used() -> None:
    """Check that the spec's PSI, metric-drop and minimum-outcome settings reach the thresholds."""
    t = Thresholds.from_spec(MonitoringBlock(psi_watch=0.2, psi_retrain=0.4, metric_drop_retrain=0.03, min_outcomes=500), alpha=0.01)
    assert (t.psi_watch, t.psi_retrain, t.metric_drop_retrain, t.min_outcomes, t.alpha) == (0.2, 0.4, 0.03, 500, 0.01)


@pytest.mark.parametrize(("value", "expected"), [(None, "ok"), (0.05, "ok"), (0.1, "watch"), (0.3, "retrain")])
def test_level_for(value: float | None, expected: str) -> None:
    """Check that a value is graded against the watch and retrain thresholds (inclusive)."""
    assert level_for(value, 0.1, 0.25) == expected


def test_worst() -> None:
    """Check that the worst level wins and no level is ok."""
    assert worst(["ok", "retrain", "watch"]) == "retrain" and worst([]) == "ok"


def test_unknown_setting_is_refused() -> None:
    """Check that a misspelt threshold is an error, not silently ignored."""
    with pytest.raises(ValueError, match="psi_wach"):
        Thresholds.from_spec(MonitoringBlock(), psi_wach=0.2)
