"""Tests that preprocessing inside the folds never sees the fold's validation rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from kpiml.spec import ColumnPlan, SplitBlock
from kpiml.training import _folds, cv_folds
from kpiml.training._folds import FoldCache

COLUMNS = [
    ColumnPlan(name="x", role="numeric", use="feature", impute="median"),
    ColumnPlan(name="cat", role="categorical", use="feature", encode="onehot"),
    ColumnPlan(name="city", role="categorical", use="feature", encode="target"),
]


class RowRecorder(TransformerMixin, BaseEstimator):
    """Remembers the frame index of every row it was fitted on."""

    seen: list[set[int]] = []  # noqa: RUF012 - shared on purpose, read by the test

    def fit(self, X: pd.DataFrame, y: Any = None) -> RowRecorder:
        RowRecorder.seen.append(set(X.index))
        self.n_seen_ = len(X)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return X[["x"]].to_numpy(dtype=float)


def _data(n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=n), "cat": rng.choice(["a", "b"], n), "city": rng.choice(["p", "q", "r"], n)})
    return frame, rng.integers(0, 2, n)


def test_fold_preprocessors_are_fitted_on_training_rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that each fold's preprocessing is fitted on exactly its training rows."""
    frame, y = _data()
    folds, _ = cv_folds(frame, y, SplitBlock(strategy="stratified", holdout=0.2, folds=4), "binary")
    RowRecorder.seen = []
    monkeypatch.setattr(_folds, "build_preprocessor", lambda *a, **k: Pipeline([("rec", RowRecorder())]))
    FoldCache(COLUMNS, frame, y, folds, "binary").get(("boost", False))
    assert len(RowRecorder.seen) == len(folds)
    for seen, (train, valid) in zip(RowRecorder.seen, folds, strict=True):
        assert seen == set(train) and not seen & set(valid)


def test_learned_statistics_exclude_validation_rows() -> None:
    """Check that imputation medians and categories are learnt without the validation rows."""
    frame, y = _data()
    folds, _ = cv_folds(frame, y, SplitBlock(strategy="stratified", holdout=0.2, folds=3), "binary")
    poisoned = frame.copy()
    _, valid0 = folds[0]
    poisoned.loc[valid0, "x"] = 1e9  # values and a category that exist only in fold 0's validation rows
    poisoned.loc[valid0, "cat"] = "only_in_validation"
    poisoned.loc[poisoned.index[:5], "x"] = np.nan
    cache = FoldCache(COLUMNS, poisoned, y, folds, "binary")
    fold0 = cache.get(("linear", False))[0]
    names = list(fold0.preprocessor.get_feature_names_out())
    assert not any("only_in_validation" in n for n in names)
    numeric = next(t for _, t, cols in fold0.preprocessor.named_steps["columns"].transformers_ if "x" in cols)
    imputer = numeric.steps[0][1]
    assert abs(imputer.statistics_[0]) < 10
    assert fold0.X_train.shape[0] == len(folds[0][0]) and fold0.X_valid.shape[0] == len(valid0)


def test_each_variant_is_prepared_once() -> None:
    """Check that the cache reuses prepared folds across trials of the same flavour."""
    frame, y = _data()
    folds, _ = cv_folds(frame, y, SplitBlock(strategy="stratified", holdout=0.2, folds=3), "binary")
    cache = FoldCache(COLUMNS, frame, y, folds, "binary")
    first = cache.get(("tree", False))
    assert cache.get(("tree", False)) is first and cache.has(("tree", False)) and not cache.has(("tree", True))
