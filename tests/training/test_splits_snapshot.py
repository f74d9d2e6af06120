"""Tests of the snapshot split: time-ordered by cutoff, entities grouped, embargoed by the label horizon."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpiml.errors import KpimlError
from kpiml.spec import SplitBlock
from kpiml.training import plan_splits


def _snapshots(entities: int, cutoffs: list[str], seed: int) -> pd.DataFrame:
    """One row per (entity, cutoff) for a random subset of cutoffs per entity, as churn leaves gaps."""
    rng = np.random.default_rng(seed)
    rows = [(f"c{e}", c) for e in range(entities) for c in cutoffs if rng.random() < 0.8]
    frame = pd.DataFrame(rows, columns=["customer_id", "cutoff"])
    frame["cutoff"] = pd.to_datetime(frame["cutoff"])
    return frame


MONTHLY = [f"2024-{m:02d}-01" for m in range(1, 13)]


def _split(embargo: float = 30, folds: int = 3, seed: int = 0, holdout: float = 0.2) -> SplitBlock:
    return SplitBlock(strategy="time", holdout=holdout, folds=folds, time_column="cutoff", group_column="customer_id", embargo_days=embargo, seed=seed)


def _check_sides(frame: pd.DataFrame, train: np.ndarray, valid: np.ndarray, embargo: float) -> None:
    """No entity on both sides; every validation cutoff later than every training cutoff plus the embargo."""
    assert len(train) and len(valid)
    assert not set(frame["customer_id"].iloc[train]) & set(frame["customer_id"].iloc[valid])
    assert frame["cutoff"].iloc[train].max() + pd.Timedelta(days=embargo) <= frame["cutoff"].iloc[valid].min()


@settings(max_examples=20, deadline=None)
@given(st.integers(30, 120), st.integers(0, 1_000), st.sampled_from([0, 15, 30, 45, 61]), st.integers(2, 4))
def test_snapshot_split_never_validates_a_seen_entity_or_period(entities: int, seed: int, embargo: int, folds: int) -> None:
    """Check that the hold-out and every fold keep entities apart and validate only later cutoffs, past the embargo."""
    frame = _snapshots(entities, MONTHLY, seed)
    y = np.random.default_rng(seed).integers(0, 2, len(frame))
    plan = plan_splits(frame, y, _split(embargo, folds, seed), "binary")
    _check_sides(frame, plan.train, plan.holdout, embargo)
    part = frame.iloc[plan.train].reset_index(drop=True)
    assert plan.folds
    for train, valid in plan.folds:
        _check_sides(part, train, valid, embargo)


def test_embargo_drops_training_rows_whose_label_reaches_the_holdout() -> None:
    """Check that with a 30-day horizon the mid-February and 1 February cutoffs (label windows past 1 March) are not trained on."""
    cutoffs = ["2023-12-01", "2023-12-15", "2024-01-01", "2024-01-15", "2024-02-01", "2024-02-15", "2024-03-01"]
    frame = _snapshots(300, cutoffs, 1)
    y = np.zeros(len(frame), dtype=int)
    y[::7] = 1
    plan = plan_splits(frame, y, _split(embargo=30, folds=2, holdout=0.1), "binary")
    assert set(frame["cutoff"].iloc[plan.holdout].dt.strftime("%m-%d")) == {"03-01"}
    assert set(frame["cutoff"].iloc[plan.train].dt.strftime("%m-%d")) == {"12-01", "12-15", "01-01", "01-15"}
    assert any("neither the training part nor the hold-out" in n for n in plan.notes)


def test_an_embargo_longer_than_the_history_is_refused() -> None:
    """Check that an embargo that leaves nothing to train on is a KpimlError naming split.embargo_days."""
    frame = _snapshots(100, MONTHLY[:4], 1)
    y = np.random.default_rng(1).integers(0, 2, len(frame))
    with pytest.raises(KpimlError, match="embargo_days"):
        plan_splits(frame, y, _split(embargo=120), "binary")


def test_holdout_holds_a_share_of_the_entities_at_later_cutoffs() -> None:
    """Check that the hold-out takes about the hold-out share of entities and that training keeps the others."""
    frame = _snapshots(500, MONTHLY, 2)
    y = np.random.default_rng(2).integers(0, 2, len(frame))
    plan = plan_splits(frame, y, _split(holdout=0.2), "binary")
    held = frame["customer_id"].iloc[plan.holdout].nunique()
    assert 0.15 * 500 <= held <= 0.25 * 500
    assert frame["customer_id"].iloc[plan.train].nunique() >= 0.7 * 500


def test_time_split_without_group_or_embargo_is_unchanged() -> None:
    """Check that an ordinary time split (no group column, no embargo) still uses every earlier row."""
    frame = _snapshots(100, MONTHLY, 3)
    y = np.random.default_rng(3).integers(0, 2, len(frame))
    split = SplitBlock(strategy="time", holdout=0.2, folds=3, time_column="cutoff")
    plan = plan_splits(frame, y, split, "binary")
    assert len(plan.train) + len(plan.holdout) == len(frame)
    assert not plan.notes
