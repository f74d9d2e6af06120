import numpy as np
import pytest

from kpiml.errors import KpimlError
from kpiml.kpi.economics import payoff_from_kpi
from kpiml.kpi.operating_point import apply_operating_point
from kpiml.kpi.profit import decision_profit
from kpiml.kpi.roi import campaign, sensitivity, with_changes
from kpiml.spec import Capacity, Economics, KpiBlock

CHURN = KpiBlock(name="churn", template="churn", capacity=Capacity(share=0.2),
                 economics=Economics(clv=200, incentive=10, contact=1, acceptance_alpha=6, acceptance_beta=14))


def data(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 3.0, n)
    return (rng.random(n) < p).astype(int), p


def test_with_changes_replaces_terms_and_capacity() -> None:
    """Check that what-if terms replace the economics and one capacity replaces another."""
    new = with_changes(CHURN, clv=300, incentive=None, capacity_count=50)
    assert new.economics.clv == 300 and new.economics.incentive == 10
    assert new.capacity == Capacity(count=50)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"clv": -5.0}, "clv"), ({"acceptance": 1.5}, "acceptance"), ({"capacity_share": 2.0}, "share"), ({"ltv": 3.0}, "Unknown what-if term ltv")],
)
def test_with_changes_rejects_bad_values(changes: dict, message: str) -> None:
    """Check that invalid or unknown what-if terms raise a KpimlError."""
    with pytest.raises(KpimlError, match=message):
        with_changes(CHURN, **changes)


def test_campaign_figures_are_consistent() -> None:
    """Check that campaign profit is the decisions' realised profit, ROI is profit / spend, and CIs bracket."""
    y, p = data()
    result = campaign(y, p, CHURN, n_boot=200)
    decision, _ = apply_operating_point(result.point, p)
    assert result.profit == pytest.approx(decision_profit(y, decision, payoff_from_kpi(CHURN)))
    assert result.acted == 300 and result.share_acted == pytest.approx(0.2)
    assert result.roi == pytest.approx(result.profit / result.spend)
    assert result.profit_ci.low <= result.profit <= result.profit_ci.high
    assert result.roi_ci is not None and result.roi_ci.low <= result.roi <= result.roi_ci.high
    assert set(result.summary()) >= {"profit", "roi", "roi_low", "expected_profit"}


def test_campaign_scales_to_a_campaign_size() -> None:
    """Check that totals scale to the campaign's rows and a count capacity is read for that size."""
    y, p = data()
    result = campaign(y, p, with_changes(CHURN, capacity_count=1000), rows=10_000, n_boot=50)
    assert result.rows == 10_000 and result.acted == 1000
    same = campaign(y, p, with_changes(CHURN, capacity_share=0.1), n_boot=50)
    assert result.profit == pytest.approx(same.profit * 10_000 / 1500)


def test_sensitivity_table() -> None:
    """Check that the table varies each churn term and the capacity, and profit rises with CLV."""
    y, p = data()
    table = sensitivity(y, p, CHURN)
    assert set(table["parameter"]) == {"clv", "incentive", "contact", "acceptance", "capacity_share"}
    clv = table[table["parameter"] == "clv"]
    assert clv["profit"].is_monotonic_increasing and (clv["share_acted"] <= 0.2 + 1e-12).all()
    acceptance = table[table["parameter"] == "acceptance"]
    assert acceptance["value"].tolist() == pytest.approx([0.15, 0.225, 0.3, 0.375, 0.45])


def test_sensitivity_notes_invalid_combinations() -> None:
    """Check that a variation that breaks the economics gets a note instead of figures."""
    y, p = data()
    kpi = with_changes(CHURN, clv=12.0, incentive=10.0)
    table = sensitivity(y, p, kpi, factors=(1.0, 1.5))
    broken = table[(table["parameter"] == "incentive") & (table["factor"] == 1.5)]
    assert "never pays" in broken["note"].iloc[0] and np.isnan(broken["profit"].iloc[0])


def test_sensitivity_without_capacity_tries_shares() -> None:
    """Check that without a capacity the table tries a few shares, and a value column is scaled."""
    y, p = data()
    kpi = KpiBlock(name="k", economics=Economics(cost_fp=11, value_column="clv"))
    table = sensitivity(y, p, kpi, np.full(len(y), 56.0), factors=(1.0, 2.0))
    assert table[table["parameter"] == "capacity_share"]["value"].tolist() == [0.05, 0.1, 0.2, 0.3, 0.5]
    assert table[table["parameter"] == "values"]["value"].tolist() == [56.0, 112.0]
