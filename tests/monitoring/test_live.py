"""Tests of kpiml.monitoring.live: joining outcomes and live model quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from kpiml.errors import KpimlError
from kpiml.monitoring.live import (
    auc_standard_error,
    binary_outcome,
    confusion_values,
    join_outcomes,
    live_quality,
)
from kpiml.spec import Economics

PRED = pd.DataFrame({"id": [1, 2, 3, 4], "score": [0.1, 0.8, 0.4, 0.9]})


def test_join_on_identifier_as_text() -> None:
    """Check that outcomes join on the identifier even when one side reads it as text."""
    outcomes = pd.DataFrame({"id": ["2", "4", "9"], "churned": [1, 0, 1]})
    joined = join_outcomes(PRED, outcomes, "id", "churned")
    assert joined["id"].tolist() == [2, 4] and joined["churned"].tolist() == [1, 0]


@pytest.mark.parametrize(
    ("outcomes", "error", "message"),
    [
        (pd.DataFrame({"customer": [1], "churned": [1]}), KpimlError, "outcomes have no column 'id'"),
        (pd.DataFrame({"id": [1], "churn": [1]}), KpimlError, "no column 'churned'.*did you mean churn"),
        (pd.DataFrame({"id": [7, 8], "churned": [1, 0]}), KpimlError, "No identifier in the outcomes matches"),
        (pd.DataFrame({"id": [1, 1], "churned": [1, 0]}), KpimlError, "more than once"),
    ],
)
def test_join_mistakes(outcomes: pd.DataFrame, error: type, message: str) -> None:
    """Check that each way an outcomes file can fail to join raises a KpimlError that says how."""
    with pytest.raises(error, match=message):
        join_outcomes(PRED, outcomes, "id", "churned")


@pytest.mark.parametrize(
    ("values", "positive", "expected"),
    [(["Yes", "No", "Yes"], "Yes", [1, 0, 1]), ([True, False, True], None, [1, 0, 1]), (["1", "0", "0"], None, [1, 0, 0])],
)
def test_binary_outcomes(values: list, positive: str | None, expected: list) -> None:
    """Check that labelled, boolean and 0/1 outcomes all become 0/1."""
    assert binary_outcome(pd.Series(values, name="y"), positive).tolist() == expected


def test_non_binary_outcome_needs_a_positive_label() -> None:
    """Check that text outcomes without a positive label raise a KpimlError."""
    with pytest.raises(KpimlError, match="not binary"):
        binary_outcome(pd.Series(["Yes", "No"], name="y"))


def test_live_metrics_match_sklearn() -> None:
    """Check that AUC and Brier agree with sklearn and calibration covers every row in deciles."""
    rng = np.random.default_rng(0)
    s = rng.random(2_000)
    y = (rng.random(2_000) < s).astype(int)
    live = live_quality(y, s, reference_auc=0.9)
    assert live.auc == pytest.approx(roc_auc_score(y, s)) and live.brier == pytest.approx(brier_score_loss(y, s))
    assert len(live.calibration) == 10 and sum(b.rows for b in live.calibration) == 2_000
    assert live.calibration_error < 0.05
    assert live.auc is not None and live.auc_drop == pytest.approx(0.9 - live.auc) and live.drop_beyond_noise


def test_auc_standard_error_matches_bootstrap() -> None:
    """Check that the Hanley-McNeil standard error is within 20 % of a bootstrap's."""
    rng = np.random.default_rng(1)
    s = rng.random(600)
    y = (rng.random(600) < 0.2 + 0.5 * s).astype(int)
    auc = roc_auc_score(y, s)
    boots = [roc_auc_score(y[i], s[i]) for i in (rng.integers(0, 600, 600) for _ in range(300))]
    assert auc_standard_error(auc, int(y.sum()), int(600 - y.sum())) == pytest.approx(np.std(boots), rel=0.2)


def test_realised_and_forecast_profit() -> None:
    """Check that the profit of acted rows uses the confusion-matrix payoffs on both sides."""
    econ = Economics(benefit_tp=100, cost_fp=10, cost_fn=0, benefit_tn=0)
    y, act = np.array([1, 0, 1, 0]), np.array([True, True, False, False])
    realised = confusion_values(y, act, econ)
    assert realised.tolist() == [100, -10, 0, 0]
    live = live_quality(y, np.array([0.9, 0.6, 0.4, 0.1]), act=act, expected_value=np.array([80, 50, 0, 0]), realised_value=realised)
    assert (live.acted_rows, live.forecast_profit, live.realised_profit) == (2, 130, 90)
