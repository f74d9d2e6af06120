"""Tests of greedy blending and of calibration chosen on out-of-fold Brier score."""

from __future__ import annotations

import numpy as np
import pytest

from kpiml.evaluation.metrics import SCORERS, get_scorer
from kpiml.training import ProbabilityCalibrator, choose_calibration, select_blend


def _two_views(n: int = 2000) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + b + rng.normal(scale=0.5, size=n) > 0).astype(int)
    def proba(z: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-z))
        return np.column_stack([1 - p, p])
    return y, {"sees_a": proba(a), "sees_b": proba(b), "noise": proba(rng.normal(size=n))}


def test_blend_combines_complementary_models() -> None:
    """Check that two models seeing different signals are blended and noise is left out."""
    y, preds = _two_views()
    blend = select_blend(preds, y, get_scorer("roc_auc", "binary"))
    assert blend.used and set(blend.weights) == {"sees_a", "sees_b"}
    assert blend.score > blend.single_score + 0.05
    assert abs(sum(blend.weights.values()) - 1) < 1e-9


def test_blend_keeps_a_single_model_when_nothing_helps() -> None:
    """Check that a blend that does not beat the best single model is not used."""
    y, preds = _two_views()
    blend = select_blend({"sees_a": preds["sees_a"], "noise": preds["noise"]}, y, get_scorer("roc_auc", "binary"))
    assert not blend.used and blend.weights == {"sees_a": 1.0}


def test_a_member_joins_only_when_it_pays_for_its_serving_cost() -> None:
    """Check that a near-copy of the best model is left out when each member must add 0.01 AUC, while a model seeing another signal joins, and a free member joins on any gain."""
    y, preds = _two_views()
    rng = np.random.default_rng(3)
    copy = np.clip(preds["sees_a"] + rng.normal(scale=0.02, size=preds["sees_a"].shape), 0, 1)
    views = {"sees_a": preds["sees_a"], "copy_of_a": copy, "sees_b": preds["sees_b"]}
    auc = get_scorer("roc_auc", "binary")
    everyone = select_blend(views, y, auc)
    assert set(everyone.weights) == {"sees_a", "copy_of_a", "sees_b"}  # plain greedy selection takes the copy for a sliver of AUC
    paid = select_blend(views, y, auc, member_gain={"sees_a": 0.01, "copy_of_a": 0.01, "sees_b": 0.01})
    assert set(paid.weights) == {"sees_a", "sees_b"} and paid.score > paid.single_score + 0.05
    free = select_blend(views, y, auc, member_gain={"sees_a": 0.01, "copy_of_a": 0.0, "sees_b": 0.01})
    assert "copy_of_a" in free.weights


def test_calibration_fixes_overconfident_probabilities() -> None:
    """Check that a miscalibrated model gets a calibrator that lowers the Brier score."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-z))).astype(int)
    p = 1 / (1 + np.exp(-4 * z))  # far too confident
    proba = np.column_stack([1 - p, p])
    calibrator, briers, reason = choose_calibration(proba, y)
    assert calibrator.method in ("sigmoid", "isotonic") and briers[calibrator.method] < briers["none"]
    assert "Brier" in reason
    assert SCORERS["brier"].score(y, calibrator.transform(proba)) < SCORERS["brier"].score(y, proba)


def test_multiclass_calibration_keeps_rows_summing_to_one() -> None:
    """Check that one-vs-rest calibration renormalises a probability matrix."""
    rng = np.random.default_rng(2)
    proba = rng.dirichlet([1, 1, 1], size=300)
    y = proba.argmax(axis=1)
    out = ProbabilityCalibrator("isotonic").fit(proba, y).transform(proba)
    assert np.allclose(out.sum(axis=1), 1.0)


def test_isotonic_calibration_keeps_the_ranking_also_where_it_maps_to_zero() -> None:
    """Check that isotonic calibration never ties rows the raw scores order, including the
    lowest block, which an isotonic map sends to exactly 0 when it holds no positive."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 2000)
    y = (rng.uniform(0, 1, 2000) < np.where(p < 0.4, 0.0, p)).astype(int)  # no positive below 0.4
    proba = np.column_stack([1 - p, p])
    out = ProbabilityCalibrator("isotonic").fit(proba, y).transform(proba)[:, 1]
    assert len(np.unique(out)) == len(np.unique(p))
    assert roc_auc_score(y, out) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert out.min() >= 0.0 and out.max() <= 1.0
