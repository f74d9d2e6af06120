"""Fitted model adapters: one `predict` shape for every library, and a safe file format each.

Classifiers return a probability matrix (rows x classes) and regressors a vector, so the
search, blending and calibration never ask which library made a prediction. Boosters are
kept as native LightGBM / XGBoost / CatBoost boosters (saved in their own text, JSON and
binary formats); every other estimator is an sklearn object saved with skops. No arbitrary
pickle is involved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from kpiml.clock import usable_cores


def _as_matrix(p: np.ndarray, problem: str) -> np.ndarray:
    if problem == "regression":
        return np.asarray(p, dtype="float64").ravel()
    p = np.asarray(p, dtype="float64")
    return np.column_stack([1 - p, p]) if p.ndim == 1 else p


def small_batch_threads(rows: int) -> int:
    """Threads for predicting (or explaining) `rows` rows: one below 2,000, where starting and
    synchronising OpenMP threads costs more than it saves (a 42-row XGBoost prediction and
    TreeSHAP took twice the CPU time on two threads as on one, for the same wall time), else
    every core this process may use, named: XGBoost's `nthread=0` ran TreeSHAP of 10,000 rows
    in 0.44 s where `nthread=2` took 0.22 s."""
    return 1 if rows < 2000 else usable_cores()


class Fitted:
    """Interface of a fitted model: `predict(X)`, `rounds` (boosting iterations) and persistence."""

    format = "abstract"
    suffix = ""
    rounds: int | None = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def save(self, path: Path) -> None:
        raise NotImplementedError


class SklearnFitted(Fitted):
    format = "skops"
    suffix = ".skops"

    def __init__(self, estimator: Any, problem: str, n_classes: int | None = None) -> None:
        self.estimator = estimator
        self.problem = problem
        self.n_classes = n_classes

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.problem == "regression":
            return _as_matrix(self.estimator.predict(X), self.problem)
        proba = _as_matrix(self.estimator.predict_proba(X), self.problem)
        if self.n_classes is not None and proba.shape[1] < self.n_classes:
            # a class absent from the training rows (early time windows, subsamples) gets 0
            full = np.zeros((len(proba), self.n_classes))
            full[:, np.asarray(self.estimator.classes_, dtype=int)] = proba
            return full
        return proba

    def save(self, path: Path) -> None:
        import skops.io as sio

        sio.dump(self.estimator, path)


class LightGBMFitted(Fitted):
    format = "lightgbm"
    suffix = ".txt"

    def __init__(self, booster: Any, problem: str, rounds: int | None = None) -> None:
        self.booster = booster
        self.problem = problem
        self.rounds = rounds or booster.current_iteration()

    def predict(self, X: np.ndarray) -> np.ndarray:
        return _as_matrix(self.booster.predict(X, num_iteration=self.rounds, num_threads=small_batch_threads(len(X))), self.problem)

    def save(self, path: Path) -> None:
        self.booster.save_model(str(path), num_iteration=self.rounds)

    @classmethod
    def load(cls, path: Path, problem: str) -> LightGBMFitted:
        import lightgbm as lgb

        return cls(lgb.Booster(model_file=str(path)), problem)


class XGBoostFitted(Fitted):
    format = "xgboost"
    suffix = ".json"

    def __init__(self, booster: Any, problem: str, rounds: int | None = None) -> None:
        self.booster = booster
        self.problem = problem
        self.rounds = rounds or booster.num_boosted_rounds()

    def predict(self, X: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        with xgb.config_context(nthread=small_batch_threads(len(X))):
            return _as_matrix(self.booster.predict(xgb.DMatrix(X), iteration_range=(0, self.rounds)), self.problem)

    def save(self, path: Path) -> None:
        self.booster[: self.rounds].save_model(str(path))

    @classmethod
    def load(cls, path: Path, problem: str) -> XGBoostFitted:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(path))
        return cls(booster, problem)


class CatBoostFitted(Fitted):
    """A CatBoost model, kept whole: its binary `.cbm` format is CatBoost's own (no pickle).
    Multiclass models are fitted with every class named, so they predict each class (0 for one
    their rows lacked) also after loading."""

    format = "catboost"
    suffix = ".cbm"

    def __init__(self, model: Any, problem: str, rounds: int | None = None) -> None:
        self.model = model
        self.problem = problem
        self.rounds = rounds or model.tree_count_
        self._shap: Any = None

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """TreeSHAP (rows, outputs, features + 1; the last is the base) in raw-score units, from
        a per-leaf table built on first use (`kpiml.evaluation._oblivious_shap`)."""
        from catboost import Pool

        from kpiml.evaluation._oblivious_shap import leaf_shap

        if self._shap is None:
            self._shap = leaf_shap(self.model)
        contrib, base = self._shap.explain(self.model.calc_leaf_indexes(Pool(X), thread_count=small_batch_threads(len(X))))
        return np.concatenate([contrib, base[:, :, None]], axis=2)

    def predict(self, X: np.ndarray) -> np.ndarray:
        threads = small_batch_threads(len(X))
        if self.problem == "regression":
            return _as_matrix(self.model.predict(X, thread_count=threads), self.problem)
        return _as_matrix(self.model.predict_proba(X, thread_count=threads), self.problem)

    def save(self, path: Path) -> None:
        self.model.save_model(str(path), format="cbm")

    @classmethod
    def load(cls, path: Path, problem: str) -> CatBoostFitted:
        from catboost import CatBoostClassifier, CatBoostRegressor

        model = CatBoostRegressor() if problem == "regression" else CatBoostClassifier()
        model.load_model(str(path), format="cbm")
        return cls(model, problem)


def load_fitted(fmt: str, path: Path, problem: str, trusted: list[str]) -> Fitted:
    """Rebuild a fitted model from its file; skops files only with the listed trusted types."""
    if fmt == LightGBMFitted.format:
        return LightGBMFitted.load(path, problem)
    if fmt == XGBoostFitted.format:
        return XGBoostFitted.load(path, problem)
    if fmt == CatBoostFitted.format:
        return CatBoostFitted.load(path, problem)
    import skops.io as sio

    return SklearnFitted(sio.load(path, trusted=trusted), problem)


class MarginClassifier(ClassifierMixin, BaseEstimator):
    """An SVM whose margins are mapped to probabilities by a logistic fit on the training rows.

    `SVC(probability=True)` runs a 5-fold Platt scaling, six fits in all; this takes one. The
    probabilities are only roughly calibrated, which is enough because kpiml calibrates the
    final (possibly blended) model on out-of-fold predictions anyway.
    """

    def __init__(self, C: float = 1.0, gamma: float | str = "scale", max_iter: int = -1, random_state: int = 0) -> None:
        self.C = C
        self.gamma = gamma
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> MarginClassifier:
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import SVC

        self.svc_ = SVC(C=self.C, gamma=self.gamma, max_iter=self.max_iter, cache_size=500, random_state=self.random_state)
        self.svc_.fit(X, y, sample_weight=sample_weight)
        self.link_ = LogisticRegression(C=1.0).fit(self._margin(X), y)
        self.classes_ = self.svc_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "link_")
        return self.link_.predict_proba(self._margin(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def _margin(self, X: np.ndarray) -> np.ndarray:
        margin = self.svc_.decision_function(X)
        return margin.reshape(-1, 1) if margin.ndim == 1 else margin
