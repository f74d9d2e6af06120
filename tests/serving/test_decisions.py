"""Tests of the service's decision rule: the KPI operating point applied row by row."""

from __future__ import annotations

import numpy as np

from kpiml.kpi import OutOfFold, choose_operating_point
from kpiml.serving.decisions import DecisionRule
from kpiml.spec import Capacity, Economics, KpiBlock


def _point() -> object:
    rng = np.random.default_rng(0)
    p = rng.beta(2, 5, 4000)
    y = (rng.random(4000) < p).astype(int)
    kpi = KpiBlock(name="churn", economics=Economics(benefit_tp=10.0, cost_fp=1.0), capacity=Capacity(share=0.05))
    return choose_operating_point(OutOfFold(y, p), kpi)


def test_a_row_gets_the_same_decision_alone_or_in_any_batch() -> None:
    """Check that the capacity works as a stream bar (per_batch=False): decisions depend only on
    the row, and match the capacity threshold learnt on the out-of-fold rows."""
    point = _point()
    assert point.kind == "top_k" and point.capacity_threshold is not None  # type: ignore[attr-defined]
    rule = DecisionRule(problem="binary", classes=["no", "yes"], threshold=0.5, point=point, economics=True)
    p = np.linspace(0.01, 0.99, 200)
    pred = np.column_stack([1 - p, p])
    _, together, ev = rule.apply(pred, None)
    alone = [rule.apply(pred[i : i + 1], None)[1][0] for i in range(len(p))]
    assert together == alone == (p >= point.capacity_threshold).astype(int).tolist()  # type: ignore[attr-defined]
    assert ev is not None and np.allclose(ev, p * 10 - (1 - p) * 1)


def test_without_economics_the_expected_value_is_null() -> None:
    """Check that the default rule's unit payoff is not reported as money."""
    rule = DecisionRule(problem="binary", classes=["no", "yes"], threshold=0.3)
    _score, decision, ev = rule.apply(np.array([[0.8, 0.2], [0.6, 0.4]]), None)
    assert decision == [0, 1] and ev is None and "0.3" in rule.describe()


def test_regression_acts_where_the_prediction_beats_the_cost() -> None:
    """Check the regression rule: act when the predicted value exceeds the cost of acting."""
    rule = DecisionRule(problem="regression", classes=[], threshold=0.5, economics=True, regression={"cost": 5.0})
    _score, decision, ev = rule.apply(np.array([3.0, 7.0]), None)
    assert decision == [0, 1] and ev is not None and ev.tolist() == [-2.0, 2.0] and rule.acts
