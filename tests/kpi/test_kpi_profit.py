import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kpiml.errors import KpimlError
from kpiml.kpi.economics import Payoff
from kpiml.kpi.profit import (
    best_point,
    cumulative_gain_at,
    decision_profit,
    expected_decision_profit,
    expected_profit_curve,
    expected_values,
    lift_at,
    max_profit,
    perfect_profit,
    profit_curve,
    profit_per_customer,
    rank,
    ranking_score,
    regret,
    threshold_profit,
    value_captured_at,
)

SCALAR = Payoff(benefit_tp=56.0, cost_fp=11.0)
labels_and_scores = st.integers(min_value=1, max_value=60).flatmap(
    lambda n: st.tuples(
        arrays(np.int64, n, elements=st.integers(0, 1)),
        arrays(np.float64, n, elements=st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]) | st.floats(0, 1)),
    )
)


def test_decision_profit_by_hand() -> None:
    """Check the realised profit of a decision vector against a hand count."""
    y = np.array([1, 0, 1, 0])
    act = np.array([1, 1, 0, 0])
    assert decision_profit(y, act, SCALAR) == 56 - 11
    full = Payoff(benefit_tp=10.0, cost_fp=2.0, cost_fn=5.0, benefit_tn=1.0)
    assert decision_profit(y, act, full) == 10 - 2 - 5 + 1


def test_profit_curve_groups_ties() -> None:
    """Check that tied scores form one threshold: a cut inside the tie is not a threshold."""
    y = np.array([1, 0, 1, 0])
    curve = profit_curve(y, np.array([0.9, 0.5, 0.5, 0.1]), SCALAR)
    np.testing.assert_array_equal(curve.counts, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(curve.cut, [True, True, False, True, True])
    np.testing.assert_allclose(curve.profit, [0, 56, 45, 101, 90])
    best = best_point(curve)
    assert (best.count, best.threshold, best.profit) == (3, 0.5, 101.0)
    assert best_point(curve, max_count=2).count == 1
    assert best_point(curve, max_count=2, thresholds_only=False).count == 1


def test_expected_profit_without_labels() -> None:
    """Check that expected profit uses p alone and equals realised profit when p is the label."""
    p = np.array([0.9, 0.2, 0.6])
    act = np.array([True, False, True])
    assert expected_decision_profit(p, act, SCALAR) == pytest.approx(0.9 * 56 - 0.1 * 11 + 0.6 * 56 - 0.4 * 11)
    y = np.array([1, 0, 1])
    assert expected_decision_profit(y.astype(float), act, SCALAR) == decision_profit(y, act, SCALAR)
    curve = expected_profit_curve(p, SCALAR)
    assert curve.profit[-1] == pytest.approx(expected_values(p, SCALAR).sum())


def test_per_row_values_change_the_ranking() -> None:
    """Check that a valuable customer with lower p outranks a cheap one with higher p."""
    p = np.array([0.6, 0.5])
    payoff = Payoff(benefit_tp=np.array([10.0, 1000.0]), cost_fp=5.0)
    assert list(rank(ranking_score(p, payoff))) == [1, 0]
    assert list(rank(ranking_score(p, SCALAR))) == [0, 1]


@settings(max_examples=40)
@given(labels_and_scores)
def test_scalar_ranking_by_expected_value_is_ranking_by_p(data: tuple[np.ndarray, np.ndarray]) -> None:
    """Check that with scalar payoffs the ranking score is p and expected value never rises down the ranking."""
    _, p = data
    score = ranking_score(p, SCALAR)
    np.testing.assert_array_equal(score, p)
    ev = expected_values(p, SCALAR)[rank(score)]
    assert np.all(np.diff(ev) <= 1e-12)


@settings(max_examples=60)
@given(labels_and_scores, st.floats(0, 1), st.integers(0, 60))
def test_best_threshold_beats_every_threshold(data: tuple[np.ndarray, np.ndarray], t: float, cap: int) -> None:
    """Check that the maximum profit is at least the profit of any threshold, within any capacity."""
    y, p = data
    best = max_profit(y, p, SCALAR)
    assert best.profit >= threshold_profit(y, p, SCALAR, t) - 1e-9
    assert best.profit >= threshold_profit(y, p, SCALAR, best.threshold) - 1e-9
    capped = max_profit(y, p, SCALAR, max_count=cap)
    assert capped.count <= cap
    if (p >= t).sum() <= cap:
        assert capped.profit >= threshold_profit(y, p, SCALAR, t) - 1e-9


@settings(max_examples=40)
@given(labels_and_scores, st.integers(0, 60))
def test_regret_is_never_negative(data: tuple[np.ndarray, np.ndarray], cap: int) -> None:
    """Check that no decision beats the perfect model under the same capacity."""
    y, p = data
    act = np.zeros(len(y), dtype=bool)
    act[rank(p)[: min(cap, len(y))]] = True
    assert regret(y, act, SCALAR, max_count=cap) >= -1e-9


def test_perfect_profit_and_per_customer() -> None:
    """Check the perfect model's profit (positives only, up to the capacity) and profit per customer."""
    y = np.array([1, 1, 0, 1])
    assert perfect_profit(y, SCALAR) == 3 * 56
    assert perfect_profit(y, SCALAR, max_count=2) == 2 * 56
    assert profit_per_customer(168.0, 4) == 42.0


def test_lift_and_gains_with_fair_ties() -> None:
    """Check lift and cumulative gains at k, a tie at the cut shared in proportion."""
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    s = np.linspace(1, 0, 10)
    assert cumulative_gain_at(y, s, 0.2) == pytest.approx(2 / 3)
    assert lift_at(y, s, 0.2) == pytest.approx(1.0 / 0.3)
    tied = np.array([1.0, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    y2 = np.array([0, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    assert cumulative_gain_at(y2, tied, 0.2) == pytest.approx((1 / 3) / 2)
    perm = np.random.default_rng(0).permutation(10)
    assert cumulative_gain_at(y2[perm], tied[perm], 0.2) == pytest.approx(cumulative_gain_at(y2, tied, 0.2))


def test_value_captured_by_regression_prediction() -> None:
    """Check the share of realised value held by the top k by predicted value."""
    value = np.array([100.0, 10.0, 50.0, 40.0])
    pred = np.array([90.0, 20.0, 10.0, 60.0])
    assert value_captured_at(value, pred, 0.5) == pytest.approx(140 / 200)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: decision_profit(np.array([0, 2]), np.array([1, 0]), SCALAR), "must be 0 and 1"),
        (lambda: profit_curve(np.array([0, 1]), np.array([0.1]), SCALAR), "differ in length"),
        (lambda: profit_curve(np.array([0, 1]), np.array([0.1, np.nan]), SCALAR), "missing or infinite"),
        (lambda: profit_curve(np.array([], dtype=int), np.array([]), SCALAR), "No rows"),
        (lambda: lift_at(np.array([0, 1]), np.array([0.1, 0.2]), 1.5), "fraction of the rows"),
        (lambda: profit_curve(np.array([0, 1]), np.array([0.1, 0.2]), Payoff(benefit_tp=np.ones(3), cost_fp=1.0)), "do not line up"),
        (lambda: profit_per_customer(1.0, 0), "at least one customer"),
    ],
)
def test_bad_inputs(call: object, message: str) -> None:
    """Check that bad labels, scores or sizes raise a KpimlError."""
    with pytest.raises(KpimlError, match=message):
        call()  # type: ignore[operator]


@settings(max_examples=30)
@given(labels_and_scores)
def test_expected_profit_curve_accumulates_expected_values(data: tuple[np.ndarray, np.ndarray]) -> None:
    """Check that the expected profit curve adds up expected values in ranking order."""
    _, p = data
    exp_curve = expected_profit_curve(p, SCALAR)
    order = rank(p)
    manual = np.concatenate([[0.0], np.cumsum(expected_values(p, SCALAR)[order])])
    np.testing.assert_allclose(exp_curve.profit, manual)
