import numpy as np
import pytest

from kpiml.kpi.economics import payoff_from_kpi
from kpiml.kpi.emp import emp_churn
from kpiml.kpi.holdout import holdout_figures
from kpiml.kpi.operating_point import OutOfFold, apply_operating_point, choose_operating_point
from kpiml.kpi.profit import decision_profit, lift_at
from kpiml.spec import Capacity, Economics, KpiBlock

CHURN = KpiBlock(name="churn", template="churn", capacity=Capacity(share=0.2),
                 economics=Economics(clv=200, incentive=10, contact=1, acceptance_alpha=6, acceptance_beta=14))


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 3.0, n)
    return (rng.random(n) < p).astype(int), p


def test_holdout_figures_with_intervals() -> None:
    """Check that hold-out figures equal the direct computations and their intervals bracket them."""
    point = choose_operating_point(OutOfFold(*data(2000, 0)), CHURN)
    y, p = data(600, 1)
    figures = holdout_figures(y, p, point, n_boot=100)
    decision, _ = apply_operating_point(point, p)
    assert figures["profit_per_row"].estimate == pytest.approx(decision_profit(y, decision, payoff_from_kpi(CHURN)) / 600)
    assert figures["emp_per_customer"].estimate == pytest.approx(emp_churn(y, p).emp)
    assert figures["lift_at_k"].estimate == pytest.approx(lift_at(y, p, 0.1))
    assert figures["share_acted"].estimate <= 0.2
    assert figures["regret_per_row"].estimate >= 0
    assert figures["max_profit_per_row"].estimate >= figures["profit_per_row"].estimate
    for ci in figures.values():
        assert ci.low <= ci.estimate + 1e-9 and ci.estimate <= ci.high + 1e-9


def test_holdout_without_emp_for_a_plain_matrix() -> None:
    """Check that a plain payoff matrix reports no EMP."""
    kpi = KpiBlock(name="k", economics=Economics(benefit_tp=56, cost_fp=11))
    point = choose_operating_point(OutOfFold(*data(500, 2)), kpi)
    assert "emp_per_customer" not in holdout_figures(*data(300, 3), point, n_boot=50)
