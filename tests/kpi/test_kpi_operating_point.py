import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpiml.errors import KpimlError
from kpiml.kpi.economics import payoff_from_kpi
from kpiml.kpi.operating_point import (
    OperatingPoint,
    OutOfFold,
    apply_operating_point,
    choose_operating_point,
    regression_decisions,
)
from kpiml.kpi.profit import decision_profit, max_profit
from kpiml.spec import Capacity, Economics, KpiBlock

SCALAR = KpiBlock(name="churn", economics=Economics(benefit_tp=56, cost_fp=11))


def calibrated(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 3.0, n)
    return (rng.random(n) < p).astype(int), p


def with_capacity(kpi: KpiBlock, **capacity: float) -> KpiBlock:
    return kpi.model_copy(update={"capacity": Capacity(**capacity)})


def test_point_without_capacity_is_the_best_oof_threshold() -> None:
    """Check that without capacity the point is the threshold of maximum realised OOF profit."""
    y, p = calibrated(3000)
    point = choose_operating_point(OutOfFold(y, p), SCALAR)
    best = max_profit(y, p, payoff_from_kpi(SCALAR))
    assert point.kind == "threshold" and point.ranking == "probability"
    assert point.threshold == best.threshold and point.oof_acted == best.count
    assert point.realised_profit_per_row == pytest.approx(best.profit_per_row)
    assert 11 / 67 - 0.1 < point.threshold < 11 / 67 + 0.1  # near the break-even p = cost / (benefit + cost)
    decision, ev = apply_operating_point(point, p)
    assert decision.sum() == point.oof_acted
    np.testing.assert_allclose(ev, p * 56 - (1 - p) * 11)


def test_capacity_makes_a_top_k_point_and_is_exact() -> None:
    """Check that a binding capacity acts on exactly floor(share·n) rows, the top ones by p."""
    y, p = calibrated(3001)
    point = choose_operating_point(OutOfFold(y, p), with_capacity(SCALAR, share=0.2))
    assert point.kind == "top_k" and point.oof_acted == math.floor(0.2 * 3001)
    assert point.unconstrained_share > 0.2 and "hard limit" in point.reason
    decision, _ = apply_operating_point(point, p)
    assert decision.sum() == 600
    assert p[decision == 1].min() >= p[decision == 0].max()
    batch = np.linspace(0, 1, 101)
    assert apply_operating_point(point, batch)[0].sum() == 20


def test_single_rows_use_the_capacity_threshold() -> None:
    """Check that rows scored one at a time clear the OOF capacity cut, acting on about the share."""
    y, p = calibrated(3000)
    point = choose_operating_point(OutOfFold(y, p), with_capacity(SCALAR, share=0.2))
    assert point.capacity_threshold is not None and point.capacity_threshold > point.threshold  # type: ignore[operator]
    single = [apply_operating_point(point, p[i : i + 1], per_batch=False)[0][0] for i in range(3000)]
    assert sum(single) == point.oof_acted
    assert apply_operating_point(point, p[:1])[0].sum() == 0  # a batch of one has no 20 % to act on
    free = choose_operating_point(OutOfFold(y, p), SCALAR)
    assert free.capacity_threshold is None
    np.testing.assert_array_equal(apply_operating_point(free, p, per_batch=False)[0], apply_operating_point(free, p)[0])


def test_count_and_budget_capacities_apply_per_batch() -> None:
    """Check that a count or a budget / contact cost caps each batch at that many rows."""
    y, p = calibrated(2000)
    by_count = choose_operating_point(OutOfFold(y, p), with_capacity(SCALAR, count=100))
    assert by_count.oof_acted == 100 and by_count.max_count == 100
    budget = KpiBlock(name="c", template="churn", economics=Economics(clv=200, incentive=10, contact=2), capacity=Capacity(budget=90))
    by_budget = choose_operating_point(OutOfFold(y, p), budget)
    assert by_budget.oof_acted == 45 and apply_operating_point(by_budget, np.full(500, 0.9))[0].sum() == 45


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 400), st.floats(0.001, 1.0), st.integers(0, 10))
def test_capacity_is_never_exceeded(n: int, share: float, seed: int) -> None:
    """Check that for any batch size and share the decisions never exceed floor(share·n)."""
    y, p = calibrated(300, seed)
    point = choose_operating_point(OutOfFold(y, p), with_capacity(SCALAR, share=share))
    batch = np.random.default_rng(seed).random(n)
    decision, _ = apply_operating_point(point, batch)
    assert decision.sum() <= math.floor(share * n + 1e-9)
    assert point.oof_acted <= math.floor(share * 300 + 1e-9)


def test_per_row_values_rank_by_expected_value() -> None:
    """Check that with a value column rows are ranked and thresholded by expected value, not p."""
    kpi = KpiBlock(name="c", template="churn", economics=Economics(value_column="clv", incentive=10, contact=1, acceptance=0.3),
                   capacity=Capacity(count=1))
    rng = np.random.default_rng(1)
    y, p = calibrated(2000, 1)
    clv = rng.lognormal(5, 0.8, 2000)
    point = choose_operating_point(OutOfFold(y, p, clv), kpi)
    assert point.ranking == "expected_value"
    decision, ev = apply_operating_point(point, np.array([0.6, 0.5]), np.array([50.0, 2000.0]))
    assert list(decision) == [0, 1] and ev[1] > ev[0]
    with pytest.raises(KpimlError, match="must come together"):
        apply_operating_point(point, np.array([0.6, 0.5]))


def test_point_takes_only_out_of_fold_rows() -> None:
    """Check that the API takes OOF arrays only, so the hold-out cannot change the point."""
    assert list(inspect.signature(choose_operating_point).parameters) == ["oof", "kpi"]
    y, p = calibrated(1500)
    holdout_y, holdout_p = calibrated(500, 9)
    point = choose_operating_point(OutOfFold(y, p), SCALAR)
    apply_operating_point(point, holdout_p)
    assert choose_operating_point(OutOfFold(y, p), SCALAR) == point
    assert decision_profit(holdout_y, apply_operating_point(point, holdout_p)[0], payoff_from_kpi(SCALAR)) > 0


def test_point_is_json_for_the_bundle() -> None:
    """Check that the operating point survives a JSON round trip with its reason and economics."""
    y, p = calibrated(800)
    point = choose_operating_point(OutOfFold(y, p), with_capacity(SCALAR, share=0.1))
    again = OperatingPoint.model_validate_json(point.model_dump_json())
    assert again == point and "benefit_tp = 56" in again.reason


def test_no_profitable_threshold_acts_on_no_one() -> None:
    """Check that when acting never pays on OOF the point acts on no row, in a batch too."""
    kpi = KpiBlock(name="k", economics=Economics(benefit_tp=1, cost_fp=100))
    y, p = calibrated(500)
    point = choose_operating_point(OutOfFold(y, np.full(500, 0.3)), kpi)
    assert point.threshold is None and point.oof_acted == 0 and "no row" in point.reason
    assert apply_operating_point(point, p)[0].sum() == 0


def test_point_needs_economics() -> None:
    """Check that a KPI without economics cannot have an operating point."""
    y, p = calibrated(100)
    with pytest.raises(KpimlError, match="no economics"):
        choose_operating_point(OutOfFold(y, p), KpiBlock(name="k"))


def test_regression_decisions_against_a_cost() -> None:
    """Check that a regression KPI acts where the predicted value beats the cost, best first, capped."""
    pred = np.array([5.0, 50.0, 20.0, 8.0])
    decision, ev = regression_decisions(pred, 10.0)
    assert list(decision) == [0, 1, 1, 0] and list(ev) == [-5, 40, 10, -2]
    assert list(regression_decisions(pred, 10.0, max_count=1)[0]) == [0, 1, 0, 0]
    with pytest.raises(KpimlError, match="cannot be negative"):
        regression_decisions(pred, -1.0)
