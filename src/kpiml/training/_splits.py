"""Hold-out and cross-validation splits as the spec says: stratified, random, grouped, time.

Honest validation is the point: with a group column the same entity is never on both sides
of a split, and with a time column every validation row is strictly later than every row
the model was trained on (ties in time stay on one side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError
from kpiml.spec import SplitBlock

Fold = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class SplitPlan:
    """Row positions of the training part and the hold-out, plus the CV folds of the former.

    Fold positions index into `train` (positions of the training part), not the full frame.
    """

    train: np.ndarray
    holdout: np.ndarray
    folds: list[Fold]
    notes: list[str]


def _groups(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Group labels with every missing value its own group (unknown entities share nothing)."""
    values = frame[column].astype("string")
    codes = pd.factorize(values)[0].astype(np.int64)
    missing = codes < 0
    codes[missing] = codes.max(initial=0) + 1 + np.arange(missing.sum())
    return codes


def _times(frame: pd.DataFrame, column: str) -> np.ndarray:
    col = frame[column]
    if pd.api.types.is_numeric_dtype(col.dtype):
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = pd.to_datetime(col, errors="coerce", format="mixed").to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
        values[pd.isna(pd.to_datetime(col, errors="coerce", format="mixed")).to_numpy()] = np.nan
    bad = int(np.isnan(values).sum())
    if bad:
        raise KpimlError(f"Time column '{column}' has {bad} rows without a readable time", expected="a date, timestamp or number on every row", got=f"{bad} missing or unreadable values", fix="fill or drop those rows, or set split.strategy to 'stratified' in kpiml.yaml")
    return values


def _time_blocks(times: np.ndarray, parts: int) -> list[np.ndarray]:
    """Positions cut into `parts` consecutive blocks at distinct time values."""
    unique = np.unique(times)
    if len(unique) < parts:
        raise KpimlError("Too few distinct times for a time-ordered split", expected=f"at least {parts} distinct values in the time column", got=f"{len(unique)}", fix="lower split.folds or use another split strategy in kpiml.yaml")
    order = np.argsort(times, kind="stable")
    ranks = np.searchsorted(unique, times[order])
    cuts = np.searchsorted(ranks, np.unique(np.quantile(ranks, np.linspace(0, 1, parts + 1)[1:-1], method="lower") + 1))
    return [b for b in np.split(order, cuts) if len(b)]


def holdout_split(frame: pd.DataFrame, y: np.ndarray, split: SplitBlock, problem: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions (train, hold-out) following the spec's strategy and hold-out share."""
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    positions = np.arange(len(frame))
    if split.strategy == "time":
        times = _times(frame, split.time_column or "")
        cutoff = np.quantile(times, 1 - split.holdout, method="higher")
        late = times >= cutoff
        if late.all() or not late.any():
            raise KpimlError("The time column leaves no rows before the hold-out", fix="lower split.holdout or use another split strategy")
        return positions[~late], positions[late]
    if split.strategy == "grouped":
        gss = GroupShuffleSplit(n_splits=1, test_size=split.holdout, random_state=split.seed)
        train, test = next(gss.split(positions, groups=_groups(frame, split.group_column or "")))
        return np.sort(train), np.sort(test)
    stratify = y if split.strategy == "stratified" and problem != "regression" and _can_stratify(y, 2) else None
    train, test = train_test_split(positions, test_size=split.holdout, random_state=split.seed, stratify=stratify)
    return np.sort(train), np.sort(test)


def _can_stratify(y: np.ndarray, folds: int) -> bool:
    return len(y) > 0 and int(np.bincount(y.astype(int)).min()) >= folds


def cv_folds(frame: pd.DataFrame, y: np.ndarray, split: SplitBlock, problem: str) -> tuple[list[Fold], list[str]]:
    """K folds over `frame` (the training part) and notes on any adjustment that was needed."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    notes: list[str] = []
    k = split.folds
    classification = problem != "regression"
    if classification and split.strategy != "time":
        smallest = int(np.bincount(y.astype(int)).min())
        if smallest < k:
            notes.append(f"folds lowered from {k} to {max(2, smallest)}: the rarest class has {smallest} rows")
            k = max(2, smallest)
    positions = np.arange(len(frame))
    if split.strategy == "time":
        blocks = _time_blocks(_times(frame, split.time_column or ""), k + 1)
        return [(np.sort(np.concatenate(blocks[: i + 1])), np.sort(blocks[i + 1])) for i in range(len(blocks) - 1)], notes
    if split.strategy == "grouped":
        groups = _groups(frame, split.group_column or "")
        k = min(k, len(np.unique(groups)))
        splitter = StratifiedGroupKFold(k, shuffle=True, random_state=split.seed) if classification else GroupKFold(k, shuffle=True, random_state=split.seed)
        return [(np.sort(a), np.sort(b)) for a, b in splitter.split(positions, y, groups)], notes
    splitter = StratifiedKFold(k, shuffle=True, random_state=split.seed) if classification and split.strategy == "stratified" else KFold(k, shuffle=True, random_state=split.seed)
    return [(np.sort(a), np.sort(b)) for a, b in splitter.split(positions, y)], notes


def plan_splits(frame: pd.DataFrame, y: np.ndarray, split: SplitBlock, problem: str) -> SplitPlan:
    """Hold-out first, then CV folds on what is left: the hold-out is never searched on."""
    train, holdout = holdout_split(frame, y, split, problem)
    folds, notes = cv_folds(frame.iloc[train], y[train], split, problem)
    return SplitPlan(train=train, holdout=holdout, folds=folds, notes=notes)
