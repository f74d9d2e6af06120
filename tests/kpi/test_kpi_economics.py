import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpiml.errors import KpimlError
from kpiml.kpi.economics import capacity_text, has_economics, max_rows, payoff_from_kpi
from kpiml.spec import Capacity, Economics, KpiBlock


def churn(**terms: object) -> KpiBlock:
    base = {"clv": 200, "incentive": 10, "contact": 1, "acceptance_alpha": 6, "acceptance_beta": 14}
    return KpiBlock(name="churn", template="churn", economics=Economics(**{**base, **terms}))


def test_churn_template_mean_values() -> None:
    """Check that the churn template gives 0.3·(200−10)−1 = 56 and 10+1 = 11 with Beta(6, 14)."""
    payoff = payoff_from_kpi(churn())
    assert payoff.benefit_tp == pytest.approx(56.0)
    assert payoff.cost_fp == pytest.approx(11.0)
    assert (payoff.cost_fn, payoff.benefit_tn) == (0.0, 0.0)
    assert payoff.churn is not None and payoff.churn.is_stochastic
    assert payoff.spend_tp == pytest.approx(1 + 0.3 * 10) and payoff.spend_fp == pytest.approx(11.0)


def test_churn_fixed_acceptance_and_default_beta() -> None:
    """Check that a fixed acceptance gives the same mean payoff and a missing one defaults to Beta(6, 14)."""
    fixed = payoff_from_kpi(KpiBlock(name="c", template="churn", economics=Economics(clv=200, incentive=10, contact=1, acceptance=0.3)))
    default = payoff_from_kpi(KpiBlock(name="c", template="churn", economics=Economics(clv=200, incentive=10, contact=1)))
    assert fixed.benefit_tp == pytest.approx(56.0) and not fixed.churn.is_stochastic  # type: ignore[union-attr]
    assert default.benefit_tp == pytest.approx(56.0) and "Beta(6, 14)" in default.derivation


def test_churn_value_column_gives_per_row_benefit() -> None:
    """Check that a CLV column makes benefit_tp per row while cost_fp stays scalar."""
    kpi = KpiBlock(name="c", template="churn", economics=Economics(value_column="clv", incentive=10, contact=1, acceptance=0.5))
    payoff = payoff_from_kpi(kpi, np.array([100.0, 300.0]))
    np.testing.assert_allclose(payoff.benefit_tp, [0.5 * 90 - 1, 0.5 * 290 - 1])
    assert payoff.cost_fp == 11.0 and payoff.n_rows == 2
    assert payoff.churn is not None and payoff.churn.clv == 200.0


def test_conversion_and_credit_templates() -> None:
    """Check the conversion (m − f, f) and credit (λ·A, r·A) payoffs."""
    conv = payoff_from_kpi(KpiBlock(name="buy", template="conversion", economics=Economics(margin=50, contact=2)))
    assert (conv.benefit_tp, conv.cost_fp) == (48.0, 2.0)
    kpi = KpiBlock(name="default", template="credit", economics=Economics(loss_given_default=0.45, margin=0.1, value_column="amount"))
    credit = payoff_from_kpi(kpi, np.array([1000.0, 2000.0]))
    np.testing.assert_allclose(credit.benefit_tp, [450, 900])
    np.testing.assert_allclose(credit.cost_fp, [100, 200])


def test_custom_matrix_and_value_column() -> None:
    """Check that a custom matrix is taken as given and a value column replaces benefit_tp."""
    plain = payoff_from_kpi(KpiBlock(name="k", economics=Economics(benefit_tp=56, cost_fp=11, cost_fn=3, benefit_tn=1)))
    assert (plain.gain, plain.loss) == (59.0, 12.0)
    per_row = payoff_from_kpi(KpiBlock(name="k", economics=Economics(cost_fp=5, value_column="v")), np.array([1.0, 9.0]))
    np.testing.assert_allclose(per_row.benefit_tp, [1, 9])
    np.testing.assert_allclose(per_row.take(np.array([1])).benefit_tp, [9])
    assert per_row.mean().benefit_tp == 5.0


def test_template_entries_equal_to_derivation_are_accepted() -> None:
    """Check that a spec written back with the template's derived matrix still loads."""
    assert payoff_from_kpi(churn(benefit_tp=56, cost_fp=11)).benefit_tp == pytest.approx(56)


@pytest.mark.parametrize(
    ("kpi", "values", "message"),
    [
        (KpiBlock(name="c", template="churn", economics=Economics(incentive=10, contact=1)), None, "needs kpi.economics.clv"),
        (churn(acceptance_beta=None), None, "needs both"),
        (churn(acceptance=0.3), None, "both a fixed acceptance rate and a Beta"),
        (KpiBlock(name="c", template="churn", economics=Economics.model_construct(clv=200.0, incentive=10.0, contact=1.0, acceptance=-0.1, acceptance_alpha=None, acceptance_beta=None, benefit_tp=0.0, cost_fp=0.0, cost_fn=0.0, benefit_tn=0.0, value_column=None)), None, "share of contacted churners"),
        (churn(incentive=250), None, "never pays"),
        (churn(benefit_tp=70), None, "disagrees"),
        (churn(cost_fn=200), None, "disagrees"),
        (KpiBlock(name="k"), None, "no economics"),
        (KpiBlock(name="k", economics=Economics(benefit_tp=0, cost_fp=3)), None, "worth nothing"),
        (KpiBlock(name="k", economics=Economics(benefit_tp=5, cost_fp=3)), np.ones(3), "must come together"),
        (KpiBlock(name="k", economics=Economics(cost_fp=3, value_column="v")), None, "must come together"),
        (KpiBlock(name="k", economics=Economics(benefit_tp=5, cost_fp=3, value_column="v")), np.ones(2), "both benefit_tp and a value_column"),
        (KpiBlock(name="k", economics=Economics(cost_fp=3, value_column="v")), np.array([1.0, np.nan]), "missing or infinite"),
        (KpiBlock(name="k", template="credit", economics=Economics(margin=0.1)), None, "loss_given_default"),
        (KpiBlock(name="k", template="conversion", economics=Economics(margin=1, contact=2)), None, "does not cover"),
    ],
)
def test_inconsistent_economics(kpi: KpiBlock, values: np.ndarray | None, message: str) -> None:
    """Check that inconsistent economics raise a KpimlError that names the problem."""
    with pytest.raises(KpimlError, match=message):
        payoff_from_kpi(kpi, values)


def test_has_economics() -> None:
    """Check that a bare KPI block has no economics and a filled template has."""
    assert not has_economics(KpiBlock(name="k"))
    assert has_economics(churn())


def test_capacity_kinds() -> None:
    """Check that share, count and budget resolve to a row limit that never exceeds n."""
    assert max_rows(Capacity(share=0.2), 7043) == 1408
    assert max_rows(Capacity(share=0.3), 10) == 3
    assert max_rows(Capacity(count=50), 20) == 20
    assert max_rows(Capacity(budget=1000), 5000, contact=3.0) == 333
    assert max_rows(Capacity(), 10) is None
    assert "budget of 1000" in capacity_text(Capacity(budget=1000), 3.0)


@pytest.mark.parametrize(("contact", "message"), [(None, "needs a cost per contact"), (0.0, "needs a cost per contact")])
def test_budget_without_contact_cost(contact: float | None, message: str) -> None:
    """Check that a budget capacity without a contact cost is an error."""
    with pytest.raises(KpimlError, match=message):
        max_rows(Capacity(budget=100), 10, contact)


@given(st.integers(min_value=0, max_value=10**7), st.floats(min_value=1e-6, max_value=1.0))
def test_share_capacity_is_exact_and_never_exceeded(n: int, share: float) -> None:
    """Check that a share capacity allows floor(share·n) rows: never more, and never one fewer."""
    limit = max_rows(Capacity(share=share), n)
    assert limit is not None and 0 <= limit <= n
    assert limit <= share * n + 1e-6 and limit >= math.floor(share * n)
