"""Tests that every candidate family fits, predicts the common shape and owns a search space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from kpiml.training import REGISTRY, Task, candidates_for


def _data(problem: str, n: int = 240) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    signal = X[:, 0] + 0.5 * X[:, 1]
    if problem == "regression":
        return X, signal + rng.normal(scale=0.1, size=n), 1
    if problem == "binary":
        return X, (signal > 0).astype(np.int64), 2
    return X, np.digitize(signal, [-0.5, 0.5]).astype(np.int64), 3


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_candidate_defaults_fit_and_predict(name: str, problem: str) -> None:
    """Check that a candidate's defaults fit and predict probabilities or values of the right shape."""
    model = REGISTRY[name]
    if problem not in model.problems:
        pytest.skip(f"{name} does not handle {problem}")
    X, y, k = _data(problem)
    task = Task(problem, k, len(y))
    fitted = model.fit(model.defaults(task), X[:200], y[:200], task)
    pred = fitted.predict(X[200:])
    if problem == "regression":
        assert pred.shape == (40,) and np.corrcoef(pred, y[200:])[0, 1] > 0.5
    else:
        assert pred.shape == (40, k) and np.allclose(pred.sum(axis=1), 1.0, atol=1e-6)
    if model.early_stopping:
        assert fitted.rounds is not None and fitted.rounds >= 1


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_candidate_owns_a_space_matching_its_starts(name: str) -> None:
    """Check that sampling the space names the same parameters as every starting configuration."""
    model = REGISTRY[name]
    problem = model.problems[0]
    task = Task(problem, 2, 1000)
    trial = optuna.create_study().ask()
    names = set(model.space(trial, task))
    assert all(set(start) == names for start in model.starts(task))


def test_boosters_refit_with_a_fixed_number_of_rounds() -> None:
    """Check that a refit uses the given rounds and needs no validation split."""
    X, y, k = _data("binary")
    task = Task("binary", k, len(y))
    for name in ("lightgbm", "xgboost", "catboost"):
        fitted = REGISTRY[name].fit(REGISTRY[name].defaults(task), X, y, task, rounds=7)
        assert fitted.rounds == 7


def test_catboost_predicts_a_class_its_training_rows_lack_also_after_loading(tmp_path: Path) -> None:
    """Check that a CatBoost model that never saw a class (an early time window) predicts every class, that one with ~0, before and after a save."""
    from kpiml.training._estimators import load_fitted

    X, y, _ = _data("multiclass")
    task = Task("multiclass", 4, len(y))
    fitted = REGISTRY["catboost"].fit(REGISTRY["catboost"].defaults(task), X, y, task, rounds=20)
    fitted.save(tmp_path / "m.cbm")
    for model in (fitted, load_fitted("catboost", tmp_path / "m.cbm", "multiclass", [])):
        pred = model.predict(X[:10])
        assert pred.shape == (10, 4) and np.all(pred[:, 3] < 1e-12) and np.allclose(pred.sum(axis=1), 1.0)


def test_candidates_for_swaps_the_linear_baseline_and_orders_by_cost() -> None:
    """Check that 'logistic' means ridge for regression and that cheap families come first."""
    names = [c.name for c in candidates_for(["svm", "logistic", "lightgbm"], "regression")]
    assert names == ["linear", "lightgbm", "svm"]
    assert [c.name for c in candidates_for(["linear", "mlp"], "binary")] == ["logistic", "logistic_spline", "mlp"]


def test_logistic_brings_its_spline_companion_on_small_data_only() -> None:
    """Check that the spline logistic model joins the plain one up to SPLINE_MAX_ROWS rows, not when logistic is asked for alone, and never uninvited."""
    from kpiml.training._candidates import SPLINE_MAX_ROWS

    assert "logistic_spline" in [c.name for c in candidates_for(["logistic", "lightgbm"], "binary", SPLINE_MAX_ROWS)]
    assert [c.name for c in candidates_for(["logistic", "lightgbm"], "binary", SPLINE_MAX_ROWS + 1)] == ["logistic", "lightgbm"]
    assert [c.name for c in candidates_for(["logistic"], "binary", 100)] == ["logistic"]
    assert [c.name for c in candidates_for(["lightgbm"], "binary", 100)] == ["lightgbm"]


def test_lightgbm_regularised_start_beats_defaults_on_noisy_imbalanced_rows() -> None:
    """Check that on 6,000 rows with 5 % positives and a weak signal one LightGBM start (the
    small, regularised trees) ranks hold-out rows better than the 31-leaf defaults."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    X = rng.normal(size=(8000, 12))
    margin = -3.2 + 0.6 * X[:, 0] + 0.4 * X[:, 1] - 0.3 * X[:, 2]
    y = (rng.random(8000) < 1 / (1 + np.exp(-margin))).astype(np.int64)
    model, task = REGISTRY["lightgbm"], Task("binary", 2, 6000)
    aucs = [roc_auc_score(y[6000:], model.fit(p, X[:6000], y[:6000], task).predict(X[6000:])[:, 1]) for p in model.starts(task)]
    assert aucs[1] > aucs[0] + 0.01, aucs  # starts: defaults, regularised, slower


@pytest.mark.parametrize(
    ("rows", "load", "cores", "threads"),
    [(50_000, 0.0, 2, 1), (200_000, 0.5, 2, 2), (200_000, 1.2, 2, 1), (200_000, 5.0, 2, 1), (200_000, 1.0, 8, 2)],
)
def test_booster_threads_follow_rows_and_idle_cores(monkeypatch: pytest.MonkeyPatch, rows: int, load: float, cores: int, threads: int) -> None:
    """Check that a booster fit takes several threads only on 100k rows or more and only while other cores are idle."""
    import os

    from kpiml.training._candidates import booster_threads

    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert booster_threads(Task("binary", 2, 300_000, n_jobs=2), rows) == threads
