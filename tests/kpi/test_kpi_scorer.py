import numpy as np
import pytest

from kpiml.errors import KpimlError
from kpiml.kpi.economics import payoff_from_kpi
from kpiml.kpi.emp import emp_churn
from kpiml.kpi.operating_point import OutOfFold, choose_operating_point
from kpiml.kpi.scorer import implied_metric, kpi_key, kpi_metric, kpi_metric_name, kpi_score
from kpiml.spec import Capacity, Economics, KpiBlock

CHURN = KpiBlock(name="churn", template="churn", economics=Economics(clv=200, incentive=10, contact=1, acceptance_alpha=6, acceptance_beta=14))
MATRIX = KpiBlock(name="churn", economics=Economics(benefit_tp=56, cost_fp=11), capacity=Capacity(share=0.2))


def data(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 3.0, n)
    return (rng.random(n) < p).astype(int), p


def test_churn_with_beta_acceptance_scores_emp() -> None:
    """Check that the churn template with a Beta acceptance and no capacity scores EMP per customer."""
    y, p = data()
    assert kpi_score(y, p, payoff_from_kpi(CHURN)) == emp_churn(y, p).emp
    assert kpi_metric_name(CHURN) == "emp_per_customer"


def test_matrix_scores_profit_at_the_operating_point() -> None:
    """Check that a payoff matrix scores the realised profit per row of the capped operating point."""
    y, p = data()
    point = choose_operating_point(OutOfFold(y, p), MATRIX)
    assert kpi_score(y, p, payoff_from_kpi(MATRIX), MATRIX.capacity) == pytest.approx(point.realised_profit_per_row)
    assert kpi_metric_name(MATRIX) == "profit_per_row"


def test_better_model_scores_higher_and_auc_breaks_ties() -> None:
    """Check that an informative model beats noise, and that the key carries AUC second."""
    y, p = data()
    noise = np.random.default_rng(5).random(len(y))
    payoff = payoff_from_kpi(MATRIX)
    assert kpi_key(y, p, payoff, MATRIX.capacity) > kpi_key(y, noise, payoff, MATRIX.capacity)
    from sklearn.metrics import roc_auc_score

    assert kpi_key(y, p, payoff)[1] == pytest.approx(roc_auc_score(y, p))


def test_metric_function_for_the_search() -> None:
    """Check that the (y, pred) metric accepts a probability matrix and per-row values of the same rows."""
    y, p = data()
    metric = kpi_metric(MATRIX)
    assert metric(y, np.column_stack([1 - p, p])) == metric(y, p)
    per_row = KpiBlock(name="c", economics=Economics(cost_fp=11, value_column="clv"))
    values = np.full(len(y), 56.0)
    assert kpi_metric(per_row, values)(y, p) == pytest.approx(kpi_metric(MATRIX.model_copy(update={"capacity": Capacity()}))(y, p))
    with pytest.raises(KpimlError, match="do not line up"):
        kpi_metric(per_row, values)(y[:10], p[:10])


def test_implied_metric_for_the_plan() -> None:
    """Check the primary metric and reason the plan states for each kind of economics."""
    assert implied_metric(KpiBlock(name="k"))[0] == "roc_auc"
    name, reason = implied_metric(CHURN)
    assert name == "emp_per_customer" and "Verbraken" in reason
    assert implied_metric(MATRIX)[0] == "profit_per_row"
