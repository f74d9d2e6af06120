"""Tests of kpiml.monitoring.impact: treated versus control KPI impact and the campaign simulator."""

from __future__ import annotations

import numpy as np
import pytest

from kpiml.errors import KpimlError
from kpiml.monitoring.impact import (
    kpi_impact,
    mean_difference,
    rate_difference,
    realised_row_value,
    simulate_campaign,
)


def test_interval_covers_the_true_effect_over_seeds() -> None:
    """Check that the 95 % intervals of the rate and value effects cover the truth in >= 17 of 20 campaigns."""
    rate_hits = value_hits = 0
    for seed in range(20):
        camp = simulate_campaign(8_000, 0.25, 0.05, 0.1, seed)
        f = camp.frame
        res = kpi_impact(f["churn"], f["act"], f["control"], f["value"])
        rate_hits += res.rate_difference.covers(camp.true_rate_difference)
        value_hits += res.value_difference.covers(camp.true_value_difference)  # type: ignore[union-attr]
    assert rate_hits >= 17 and value_hits >= 17


def test_simulated_control_is_the_holdout_share_of_acted_rows() -> None:
    """Check that the simulator holds out ~10 % of the acted rows and never a row it would not act on."""
    f = simulate_campaign(20_000, 0.2, 0.05, 0.1, 0).frame
    assert not (f["control"] & ~f["act"]).any()
    assert f.loc[f["act"], "control"].mean() == pytest.approx(0.1, abs=0.015)
    assert f["act"].mean() == pytest.approx(0.3, abs=0.01)


def test_known_effect_is_recovered_with_a_large_sample() -> None:
    """Check that with 200,000 customers the estimate lies close to the simulated effect."""
    camp = simulate_campaign(200_000, 0.25, 0.08, 0.2, 7)
    f = camp.frame
    res = kpi_impact(f["churn"], f["act"], f["control"], f["value"])
    assert res.rate_difference.estimate == pytest.approx(-0.08, abs=0.015)
    assert res.incremental_value is not None and res.incremental_value.estimate > 0
    assert res.outcomes_changed.estimate == pytest.approx(res.rate_difference.estimate * res.treated_rows)


def test_control_among_all_rows_is_restricted_to_acted_rows() -> None:
    """Check that control rows the model would not act on are left out of the comparison."""
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    act = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    ctl = np.array([0, 0, 1, 0, 1, 1, 1, 0], bool)
    res = kpi_impact(y, act, ctl)
    assert (res.treated_rows, res.control_rows, res.rate_control) == (3, 1, 1.0)
    assert not res.enough


def test_newcombe_interval_against_a_known_value() -> None:
    """Check the Newcombe hybrid score interval against Newcombe (1998), table II, example (a): 56/70 vs 48/80."""
    est = rate_difference(np.r_[np.ones(56), np.zeros(14)], np.r_[np.ones(48), np.zeros(32)])
    assert (est.low, est.high) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_welch_interval_of_identical_constants_is_a_point() -> None:
    """Check that two constant groups give a zero-width interval instead of NaN."""
    est = mean_difference(np.full(5, 3.0), np.full(4, 1.0))
    assert (est.estimate, est.low, est.high) == (2.0, 2.0, 2.0)


def test_row_value() -> None:
    """Check that realised value charges the outcome value per positive and the cost per treated row."""
    v = realised_row_value(np.array([1, 0, 1, 0]), np.array([1, 1, 0, 0]), outcome_value=-200, treatment_cost=10)
    assert v.tolist() == [-210, -10, -200, 0]


@pytest.mark.parametrize(
    ("act", "control", "message"),
    [([1, 1, 1], [0, 0, 0], "0 control rows"), ([1, 1, 0], [1, 1, 0], "0 treated"), ([0, 0, 0], [1, 1, 1], "0 treated and 0 control")],
)
def test_impact_needs_both_groups(act: list, control: list, message: str) -> None:
    """Check that a log without control (or without treated) rows among acted rows raises a KpimlError."""
    with pytest.raises(KpimlError, match=message):
        kpi_impact(np.array([1, 0, 1]), np.array(act, bool), np.array(control, bool))
