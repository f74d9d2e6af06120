"""Preprocessed CV folds, built once per preprocessing variant and shared by every trial.

The preprocessor of a fold is fitted on that fold's training rows only and then transforms
its validation rows: no fold ever sees its validation rows while being prepared. As the
preprocessing does not depend on model hyper-parameters, caching it per (flavour, pruning)
lets the search spend its budget on models instead of repeating identical encodings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kpiml.features import build_preprocessor
from kpiml.spec import ColumnPlan
from kpiml.training._splits import Fold

PrepKey = tuple[str, bool]  # (flavour, prune)


@dataclass
class PreparedFold:
    """One fold: fitted preprocessor, transformed matrices and row positions (in the training part)."""

    preprocessor: Any
    X_train: np.ndarray
    X_valid: np.ndarray
    train: np.ndarray
    valid: np.ndarray


@dataclass
class FoldCache:
    """Lazily prepared folds for each preprocessing variant, with the time spent on each."""

    columns: list[ColumnPlan]
    frame: pd.DataFrame
    y: np.ndarray
    folds: list[Fold]
    problem: str
    seed: int = 0
    _cache: dict[PrepKey, list[PreparedFold]] = field(default_factory=dict)
    seconds: dict[PrepKey, float] = field(default_factory=dict)

    def get(self, key: PrepKey) -> list[PreparedFold]:
        if key not in self._cache:
            start = time.monotonic()
            self._cache[key] = [self._prepare(key, train, valid) for train, valid in self.folds]
            self.seconds[key] = time.monotonic() - start
        return self._cache[key]

    def has(self, key: PrepKey) -> bool:
        return key in self._cache

    def drop_matrices(self) -> None:
        """Free the transformed fold matrices once the search is over, keeping each fold's fitted
        preprocessor (the fold models ship with it). The refit that follows builds matrices of
        all training rows, and with the fold matrices still held the 1,000,000-row bench peaked
        at 7.7 GB (process tree RSS) after a search that had stayed under 5.9 GB."""
        for folds in self._cache.values():
            for fold in folds:
                fold.X_train, fold.X_valid = fold.X_train[:0], fold.X_valid[:0]

    def _prepare(self, key: PrepKey, train: np.ndarray, valid: np.ndarray) -> PreparedFold:
        flavour, prune = key
        pre = build_preprocessor(self.columns, flavour, self.problem, prune=prune, seed=self.seed)  # type: ignore[arg-type]
        X_train = np.asarray(pre.fit_transform(self.frame.iloc[train], self.y[train]), dtype="float64")
        X_valid = np.asarray(pre.transform(self.frame.iloc[valid]), dtype="float64")
        return PreparedFold(pre, X_train, X_valid, train, valid)
