"""Tests of kpiml.monitoring.challenger: champion versus challenger with a paired bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kpiml.errors import KpimlError
from kpiml.monitoring.challenger import compare_challenger


def roc_auc_score(y: np.ndarray, s: np.ndarray) -> float:
    """AUC by the rank-sum formula (fast enough for hundreds of resamples)."""
    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    return float((rankdata(s)[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _design(X: pd.DataFrame) -> np.ndarray:
    return pd.get_dummies(X.drop(columns=["total_charges"]), dtype=float).to_numpy()


@pytest.fixture(scope="module")
def churn_models(wa_churn: tuple) -> dict[str, np.ndarray]:
    """Scores on the last 2,000 rows of a champion trained on 150 rows, a challenger on 4,000
    rows, and a challenger trained on 4,000 rows with shuffled labels."""
    X, y = wa_churn
    Z, yy = _design(X), y.to_numpy()
    recent = slice(len(Z) - 2_000, len(Z))
    fit = lambda rows, labels: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(Z[rows], labels).predict_proba(Z[recent])[:, 1]  # noqa: E731
    small, large = np.arange(150), np.arange(4_000)
    return {"y": yy[recent], "champion": fit(small, yy[small]), "more_data": fit(large, yy[large]),
            "shuffled": fit(large, np.random.default_rng(0).permutation(yy[large]))}


def test_challenger_with_more_data_is_promoted(churn_models: dict) -> None:
    """Check that a challenger trained on more data is promoted when it is better beyond noise."""
    m = churn_models
    res = compare_challenger(m["y"], m["champion"], m["more_data"], roc_auc_score, metric_name="roc_auc", n_boot=300)
    assert res.promote and res.difference.low > 0 and "beats" in res.reason


def test_challenger_on_shuffled_labels_is_kept_out(churn_models: dict) -> None:
    """Check that a challenger trained on shuffled labels never replaces the champion."""
    m = churn_models
    res = compare_challenger(m["y"], m["champion"], m["shuffled"], roc_auc_score, metric_name="roc_auc", n_boot=300)
    assert not res.promote and res.difference.estimate < 0


def test_identical_models_are_not_promoted() -> None:
    """Check that a challenger equal to the champion is not promoted (no gain beyond noise)."""
    rng = np.random.default_rng(0)
    s = rng.random(1_000)
    y = (rng.random(1_000) < s).astype(int)
    res = compare_challenger(y, s, s + rng.normal(0, 1e-9, 1_000), roc_auc_score, n_boot=200)
    assert not res.promote and res.difference.low <= 0 <= res.difference.high + 1e-6


@pytest.mark.parametrize(
    ("y", "a", "b", "message"),
    [(np.ones(5), np.ones(5), np.ones(5), "single label"), (np.array([0, 1]), np.ones(2), np.ones(3), "same rows")],
)
def test_comparison_mistakes(y: np.ndarray, a: np.ndarray, b: np.ndarray, message: str) -> None:
    """Check that mismatched scores or a one-label window raise a KpimlError."""
    with pytest.raises(KpimlError, match=message):
        compare_challenger(y, a, b, roc_auc_score)
