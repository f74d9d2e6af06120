"""Tests of hold-out and CV splits: grouped splits never share entities, time splits never look ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpiml.errors import KpimlError
from kpiml.spec import SplitBlock
from kpiml.training import cv_folds, holdout_split, plan_splits


def _frame(groups: list[int], times: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"customer": [f"c{g}" for g in groups], "when": pd.to_datetime("2024-01-01") + pd.to_timedelta(times, unit="D")})


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=60, max_size=200), st.integers(0, 10))
def test_grouped_splits_never_mix_entities(groups: list[int], seed: int) -> None:
    """Check that no customer appears on both sides of the hold-out or of any fold."""
    frame = _frame(groups, list(range(len(groups))))
    y = np.array([g % 2 for g in groups])
    if len(set(groups)) < 8:
        return
    split = SplitBlock(strategy="grouped", holdout=0.2, folds=3, group_column="customer", seed=seed)
    plan = plan_splits(frame, y, split, "binary")
    cust = frame["customer"].to_numpy()
    assert not set(cust[plan.train]) & set(cust[plan.holdout])
    train_cust = cust[plan.train]
    for a, b in plan.folds:
        assert not set(train_cust[a]) & set(train_cust[b])
        assert len(a) + len(b) == len(plan.train)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=40, max_size=200))
def test_time_splits_never_look_ahead(times: list[int]) -> None:
    """Check that every validation row is strictly later than every row trained on."""
    if len(set(times)) < 8:
        return
    frame = _frame([0] * len(times), times)
    y = np.arange(len(times)) % 2
    split = SplitBlock(strategy="time", holdout=0.2, folds=3, time_column="when")
    plan = plan_splits(frame, y, split, "binary")
    when = frame["when"].to_numpy()
    assert when[plan.train].max() < when[plan.holdout].min()
    train_when = when[plan.train]
    for a, b in plan.folds:
        assert train_when[a].max() < train_when[b].min()
    # expanding window: each fold trains on at least what the previous one did
    sizes = [len(a) for a, _ in plan.folds]
    assert sizes == sorted(sizes)


def test_stratified_holdout_keeps_class_balance() -> None:
    """Check that hold-out and folds keep the minority share of the whole."""
    y = np.array([1] * 100 + [0] * 900)
    frame = pd.DataFrame({"x": np.arange(1000)})
    train, hold = holdout_split(frame, y, SplitBlock(strategy="stratified", holdout=0.3, folds=5), "binary")
    assert abs(y[hold].mean() - 0.1) < 0.01 and len(hold) == 300
    folds, notes = cv_folds(frame.iloc[train], y[train], SplitBlock(strategy="stratified", holdout=0.3, folds=5), "binary")
    assert len(folds) == 5 and not notes
    assert all(abs(y[train][b].mean() - 0.1) < 0.02 for _, b in folds)


def test_folds_are_lowered_for_a_rare_class() -> None:
    """Check that a class with fewer rows than folds lowers the fold count with a note."""
    y = np.array([1, 1, 1] + [0] * 50)
    folds, notes = cv_folds(pd.DataFrame({"x": range(53)}), y, SplitBlock(strategy="stratified", holdout=0.2, folds=5), "binary")
    assert len(folds) == 3 and "rarest class" in notes[0]


@pytest.mark.parametrize(
    ("times", "error", "message"),
    [
        (["2024-01-01", None, "2024-01-03", "2024-01-04"], KpimlError, "without a readable time"),
        (["2024-01-01"] * 10, KpimlError, "no rows before the hold-out"),
    ],
)
def test_bad_time_columns_are_user_errors(times: list[str | None], error: type[Exception], message: str) -> None:
    """Check that unusable time columns raise KpimlError naming the problem."""
    frame = pd.DataFrame({"when": times})
    with pytest.raises(error, match=message):
        plan_splits(frame, np.zeros(len(times), dtype=int), SplitBlock(strategy="time", holdout=0.2, folds=2, time_column="when"), "regression")
