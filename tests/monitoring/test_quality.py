"""Tests of kpiml.monitoring.quality: data quality against the input contract."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from kpiml.monitoring.quality import check_quality, infer_contract


def _drop_column(te: pd.DataFrame) -> pd.DataFrame:
    return te.drop(columns="tenure")


def _retype(te: pd.DataFrame) -> pd.DataFrame:
    return te.assign(tenure=np.where(np.arange(len(te)) % 4 == 0, te["tenure"].astype(str), "n/a"))


def _new_category(te: pd.DataFrame) -> pd.DataFrame:
    return te.assign(payment_method=te["payment_method"].where(np.arange(len(te)) % 8 > 0, "crypto"))


def _missing_jump(te: pd.DataFrame) -> pd.DataFrame:
    return te.assign(total_charges=te["total_charges"].where(np.arange(len(te)) % 4 > 0))


def _out_of_range(te: pd.DataFrame) -> pd.DataFrame:
    return te.assign(monthly_charges=te["monthly_charges"] * np.where(np.arange(len(te)) % 5 == 0, 3.0, 1.0))


def test_contract_from_training_rows(churn_setup: tuple) -> None:
    """Check that the inferred contract follows the protocol (type, categories, range, missing share)."""
    contract = churn_setup[1]
    assert contract["contract"]["categories"] == ["Month-to-month", "One year", "Two year"]
    assert contract["monthly_charges"]["type"] == "numeric" and contract["monthly_charges"]["min"] > 0
    assert 0 < contract["total_charges"]["missing_share"] < 0.01


@pytest.mark.parametrize("seed", range(4))
def test_iid_holdout_has_no_issue(split_churn, seed: int) -> None:
    """Check that an i.i.d. hold-out of wa_churn raises no data-quality issue."""
    tr, te, _, _ = split_churn(seed)
    assert check_quality(te, infer_contract(tr)).issues == []


@pytest.mark.parametrize(
    ("damage", "column", "check", "level"),
    [
        (_drop_column, "tenure", "missing_column", "retrain"),
        (_retype, "tenure", "retyped", "retrain"),
        (_new_category, "payment_method", "new_categories", "retrain"),
        (_missing_jump, "total_charges", "missing_jump", "retrain"),
        (_out_of_range, "monthly_charges", "out_of_range", "retrain"),
    ],
)
def test_each_issue_is_found(churn_setup: tuple, damage: Callable, column: str, check: str, level: str) -> None:
    """Check that each kind of damage gives exactly one issue, on the damaged column."""
    _, contract, _, te, _ = churn_setup
    issues = check_quality(damage(te), contract).issues
    assert [(i.column, i.check, i.level) for i in issues] == [(column, check, level)]


def test_extra_column_is_information_only(churn_setup: tuple) -> None:
    """Check that a column outside the contract is reported at level ok (it is ignored when scoring)."""
    _, contract, _, te, _ = churn_setup
    issues = check_quality(te.assign(extra=1), contract).issues
    assert [(i.check, i.level) for i in issues] == [("extra_column", "ok")]


def test_few_odd_rows_in_a_small_batch_are_not_an_issue(churn_setup: tuple) -> None:
    """Check that 1 unseen category in 50 rows (2 %) is not an issue: the binomial test guards it."""
    _, contract, _, te, _ = churn_setup
    batch = te.iloc[:50].copy()
    batch.iloc[0, batch.columns.get_loc("payment_method")] = "crypto"
    assert check_quality(batch, contract).issues == []
    col = next(c for c in check_quality(batch, contract).columns if c.column == "payment_method")
    assert col.new_categories == ["crypto"] and col.new_category_share == pytest.approx(0.02)


def test_integer_codes_and_floats_compare_as_one_category() -> None:
    """Check that a 0/1 column read as floats (because of a missing value) shows no new categories."""
    contract = infer_contract(pd.DataFrame({"flag": pd.Series([0, 1] * 50, dtype="int64")}).astype({"flag": "category"}))
    new = pd.DataFrame({"flag": [0.0, 1.0, np.nan] * 40})
    q = check_quality(new, contract)
    assert q.columns[0].new_category_share == 0.0


def test_contract_from_the_bundle_format() -> None:
    """Check that the bundle's contract.json converts to the protocol, missing shares from the reference."""
    from kpiml.monitoring import build_reference
    from kpiml.monitoring.quality import contract_from_bundle

    X = pd.DataFrame({"x": [1.0, None, 3.0, 4.0], "c": ["a", "b", None, "a"], "note": ["t1", "t2", "t3", "t4"]})
    bundle = {"features": [
        {"name": "x", "kind": "numeric", "min": 1.0, "max": 4.0, "missing_in_training": True},
        {"name": "c", "kind": "categorical", "categories": ["a", "b"], "categories_complete": True, "missing_in_training": True},
        {"name": "note", "kind": "text", "missing_in_training": False},
        {"name": "flag", "kind": "boolean", "min": 0.0, "max": 1.0, "missing_in_training": False},
    ]}
    plain = contract_from_bundle(bundle)
    assert set(plain) == {"x", "c", "flag"} and plain["x"]["missing_share"] is None and plain["flag"]["missing_share"] == 0.0
    assert plain["c"]["categories"] == ["a", "b"] and plain["x"]["min"] == 1.0 and plain["flag"]["min"] is None
    with_ref = contract_from_bundle(bundle, build_reference(X, None, {"x": {"type": "numeric"}, "c": {"type": "categorical"}}))
    assert with_ref["x"]["missing_share"] == 0.25 and with_ref["c"]["missing_share"] == 0.25
    report = check_quality(pd.DataFrame({"x": [np.nan] * 100, "c": ["a"] * 100, "flag": [1] * 100}), plain)
    assert [i.check for i in report.issues] == []  # x's training missing share is unknown: not judged
