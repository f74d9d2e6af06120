"""Hold-out and cross-validation splits as the spec says: stratified, random, grouped, time.

Honest validation is the point: with a group column the same entity is never on both sides
of a split, and with a time column every validation row is strictly later than every row
the model was trained on (ties in time stay on one side).

A time split may also name a group column and an embargo (a snapshot table: one row per
entity and cutoff, the label looking `embargo_days` past the cutoff). Then validation rows
are later cutoffs of entities the model never trained on, and a training row whose label
window reaches into the validation period is dropped: otherwise the model would have seen
outcomes from the very period it is validated on.
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
        early = ~late & (times + _embargo(frame, split) <= cutoff)
        if split.group_column:
            held = _entity_draw(_groups(frame, split.group_column), split.holdout, split.seed)
            late, early = late & held, early & ~held
        if not early.any() or not late.any():
            raise KpimlError("The embargo and entity grouping leave no rows on one side of the hold-out", expected=f"rows more than split.embargo_days ({split.embargo_days:g}) before the hold-out period", fix="lower split.embargo_days or split.holdout in kpiml.yaml")
        return positions[early], positions[late]
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
        return _time_folds(frame, split, k, notes)
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
    unused = len(frame) - len(train) - len(holdout)
    if unused:
        why = " and ".join(w for w, on in ((f"their label window ({split.embargo_days:g} days) reaches the hold-out period", split.embargo_days > 0), (f"their '{split.group_column}' is on the other side", bool(split.group_column))) if on)
        notes.insert(0, f"{unused:,} rows are in neither the training part nor the hold-out: {why}")
    return SplitPlan(train=train, holdout=holdout, folds=folds, notes=notes)


def _embargo(frame: pd.DataFrame, split: SplitBlock) -> float:
    """The embargo in the units `_times` returns: nanoseconds for dates, the column's own units for numbers."""
    numeric = pd.api.types.is_numeric_dtype(frame[split.time_column or ""].dtype)
    return float(split.embargo_days) * (1.0 if numeric else 86_400e9)


def _entity_draw(groups: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Rows whose entity falls in a random `share` of the entities (at least one, never all)."""
    unique = np.unique(groups)
    n = min(max(1, round(share * len(unique))), len(unique) - 1)
    chosen = np.random.default_rng(seed).choice(unique, n, replace=False)
    return np.isin(groups, chosen)


def _time_folds(frame: pd.DataFrame, split: SplitBlock, k: int, notes: list[str]) -> tuple[list[Fold], list[str]]:
    """Expanding-window folds: fold i trains on the first i + 1 time blocks and validates on the next.

    With a group column the entities are dealt into k random groups and fold i validates only
    group i, training on the others; with an embargo a training row must end its label
    window before the validation block starts. Folds left empty by either are dropped.
    """
    times = _times(frame, split.time_column or "")
    blocks = _time_blocks(times, k + 1)
    embargo = _embargo(frame, split)
    deal = None
    if split.group_column:
        groups = _groups(frame, split.group_column)
        unique = np.unique(groups)
        rank = np.random.default_rng(split.seed).permutation(len(unique))
        deal = rank[np.searchsorted(unique, groups)] % k
    folds: list[Fold] = []
    for i in range(len(blocks) - 1):
        train, valid = np.sort(np.concatenate(blocks[: i + 1])), np.sort(blocks[i + 1])
        train = train[times[train] + embargo <= times[valid].min()]
        if deal is not None:
            train, valid = train[deal[train] != i % k], valid[deal[valid] == i % k]
        if len(train) and len(valid):
            folds.append((train, valid))
    if not folds:
        raise KpimlError("The embargo leaves no training rows before any validation block", expected=f"time blocks further apart than split.embargo_days ({split.embargo_days:g})", fix="lower split.embargo_days or split.folds in kpiml.yaml")
    if len(folds) < len(blocks) - 1:
        notes.append(f"{len(blocks) - 1 - len(folds)} of {len(blocks) - 1} time-ordered folds dropped: the embargo left them without training rows")
    return folds, notes


def search_sample(splits: SplitPlan, y: np.ndarray, max_rows: int, seed: int) -> tuple[SplitPlan, str | None]:
    """The splits restricted to at most `max_rows` training rows, for the search only.

    Rows are drawn within each class (regression: at random) and every fold keeps its own
    side of each drawn row, so grouped and time-ordered folds stay as honest as before: the
    restriction never moves a row across a fold boundary. Positions are re-indexed into the
    sampled training part, as `SplitPlan.folds` requires.
    """
    n = len(splits.train)
    if n <= max_rows:
        return splits, None
    rng = np.random.default_rng(seed)
    labels = y[splits.train]
    if np.issubdtype(labels.dtype, np.integer) and len(np.unique(labels)) <= 50:
        keep = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[: max(1, round(max_rows * np.mean(labels == c)))] for c in np.unique(labels)])
    else:
        keep = rng.choice(n, max_rows, replace=False)
    keep = np.sort(keep)
    new_index = np.full(n, -1)
    new_index[keep] = np.arange(len(keep))
    folds = [(new_index[tr][new_index[tr] >= 0], new_index[va][new_index[va] >= 0]) for tr, va in splits.folds]
    note = (f"search on a sample of {len(keep):,} of the {n:,} training rows (drawn within each class, every fold keeping its side), "
            f"so that the budget buys trials rather than a few slow fits; the chosen models are refitted on every training row when the budget allows")
    return SplitPlan(splits.train[keep], splits.holdout, folds, [*splits.notes, note]), note
