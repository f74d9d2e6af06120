"""Tests of kpiml.monitoring.drift: PSI, KS and chi-square drift with correction and materiality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from kpiml.monitoring.drift import (
    categorical_drift,
    drift_report,
    ks_distance,
    ks_pvalue,
    numeric_drift,
    psi,
)
from kpiml.monitoring.reference import SKETCH_POINTS, categorical_reference, numeric_reference

from .conftest import move_category, shift_numeric

shares = arrays(np.float64, st.integers(2, 12), elements=st.floats(0.0, 1.0)).filter(lambda a: a.sum() > 0)


@settings(max_examples=60, deadline=None)
@given(shares, st.data())
def test_psi_is_non_negative_and_zero_on_identity(a: np.ndarray, data: st.DataObject) -> None:
    """Check that PSI is >= 0 for any two share vectors and 0 for identical ones."""
    b = data.draw(arrays(np.float64, a.size, elements=st.floats(0.0, 1.0)).filter(lambda v: v.sum() > 0))
    assert psi(a / a.sum(), b / b.sum()) >= 0
    assert psi(a / a.sum(), a / a.sum()) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 60), elements=st.integers(-5, 5).map(float)),
       arrays(np.float64, st.integers(1, 200), elements=st.floats(-6, 6, allow_nan=False)))
def test_ks_distance_matches_scipy(sketch: np.ndarray, values: np.ndarray) -> None:
    """Check that the sort-free KS distance equals scipy's ks_2samp statistic, ties included."""
    assert ks_distance(sketch, values) == pytest.approx(stats.ks_2samp(values, sketch).statistic, abs=1e-12)
    rounded = np.round(values)
    assert ks_distance(sketch, rounded) == pytest.approx(stats.ks_2samp(rounded, sketch).statistic, abs=1e-12)


def test_sketch_distance_is_full_training_distance() -> None:
    """Check that the distance to the sketch is the distance to the whole training column within 1/points."""
    rng = np.random.default_rng(3)
    train, new = rng.gamma(2, 3, 50_000), rng.gamma(2.2, 3, 8_000)
    ref = numeric_reference(train)
    full = stats.ks_2samp(new, train)
    assert ks_distance(np.asarray(ref.sketch), new) == pytest.approx(full.statistic, abs=1.5 / SKETCH_POINTS)
    assert ks_pvalue(full.statistic, 8_000, 50_000) == pytest.approx(full.pvalue, rel=1e-6, abs=1e-300)


def test_missing_values_are_a_psi_bin() -> None:
    """Check that a jump of the missing share raises PSI while the KS distance ignores missing values."""
    x = np.random.default_rng(0).normal(size=4_000)
    ref = numeric_reference(x)
    y = x.copy()
    y[:1_000] = np.nan
    d = numeric_drift("x", ref, y)
    assert d.psi > 0.25 and d.distance < 0.05 and d.bins[-1].label == "missing"


def test_categorical_test_uses_training_counts() -> None:
    """Check that the chi-square test counts the training sample's noise (a 2 x k table)."""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(120):
        train = pd.Series(rng.choice(["a", "b", "c"], 1_000, p=[0.5, 0.3, 0.2]))
        new = pd.Series(rng.choice(["a", "b", "c"], 1_000, p=[0.5, 0.3, 0.2]))
        hits += categorical_drift("c", categorical_reference(train), new).p_value < 0.05
    assert hits <= 14  # ~6 expected at the 5 % level; a goodness-of-fit test on shares would give ~26


def test_small_batches_do_not_alarm_on_noise() -> None:
    """Check that a 40-row batch from the training distribution is not graded as drift."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=5_000), "c": rng.choice(list("abcd"), 5_000)})
    from kpiml.monitoring import build_reference

    ref = build_reference(X, None)
    for seed in range(10):
        new = X.sample(40, random_state=seed)
        assert drift_report(ref, new).drifted() == []


@pytest.mark.parametrize("seed", range(8))
def test_iid_holdout_never_drifts(split_churn, seed: int) -> None:
    """Check that no column of an i.i.d. 30 % hold-out of wa_churn drifts, over split seeds."""
    from kpiml.monitoring import build_reference

    tr, te, _, _ = split_churn(seed)
    report = drift_report(build_reference(tr, None), te)
    assert report.drifted("watch") == []
    assert max(c.distance for c in report.columns) < 0.05


def test_half_sd_shift_names_only_that_column(churn_setup: tuple) -> None:
    """Check that shifting monthly_charges by 0.5 sd makes it, and only it, a retrain column."""
    ref, _, tr, te, _ = churn_setup
    report = drift_report(ref, shift_numeric(te, "monthly_charges", 0.5, tr["monthly_charges"].std()))
    assert report.drifted("retrain") == ["monthly_charges"]
    assert report.drifted("watch") == ["monthly_charges"]


def test_category_move_names_only_that_column(churn_setup: tuple) -> None:
    """Check that moving contract's Month-to-month share by 20 points flags contract alone."""
    ref, _, _, te, _ = churn_setup
    report = drift_report(ref, move_category(te, "contract", "Month-to-month", 0.20))
    assert report.drifted("watch") == ["contract"]
    assert report.drifted("retrain") == ["contract"]
    cell = {b.label: b for b in next(c for c in report.columns if c.column == "contract").bins}["Month-to-month"]
    assert cell.new - cell.reference == pytest.approx(0.20, abs=0.02)


def test_score_drift_is_reported(churn_setup: tuple) -> None:
    """Check that the score distribution gets its own drift entry against the training scores."""
    from .conftest import churn_score

    ref, _, tr, te, _ = churn_setup
    same = drift_report(ref, te, churn_score(te))
    moved = shift_numeric(te, "tenure", -1.0, tr["tenure"].std())
    shifted = drift_report(ref, moved, churn_score(moved))
    assert same.score is not None and same.score.level == "ok"
    assert shifted.score is not None and shifted.score.level != "ok"
