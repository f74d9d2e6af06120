"""Tests of kpiml.monitoring.reference: the compact training reference stored in the bundle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kpiml.errors import KpimlError
from kpiml.monitoring.reference import (
    MISSING,
    OTHER,
    SKETCH_POINTS,
    CategoricalReference,
    NumericReference,
    Reference,
    build_reference,
    categorical_reference,
    numeric_reference,
)


def wide_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """30 numeric (full-precision floats, 5 % missing) and 20 categorical columns (3-300 levels)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for i in range(30):
        x = rng.lognormal(3, 1, rows) if i % 3 == 0 else rng.normal(50, 20, rows)
        x[rng.random(rows) < 0.05] = np.nan
        cols[f"num_{i:02d}"] = x
    for i in range(20):
        k = [3, 8, 40, 300][i % 4]
        cols[f"cat_{i:02d}"] = pd.Series(rng.integers(0, k, rows)).map(lambda v, i=i: f"c{i}_{v}")
    return pd.DataFrame(cols)


def test_reference_round_trips_through_json(churn_setup: tuple) -> None:
    """Check that the reference survives a JSON dump and load unchanged (it lives in the bundle)."""
    ref = churn_setup[0]
    again = Reference.model_validate_json(ref.model_dump_json())
    assert again == ref
    assert isinstance(again.columns["tenure"], NumericReference)
    assert isinstance(again.columns["contract"], CategoricalReference)


def test_reference_of_50_columns_is_small() -> None:
    """Check that a reference of 50 full-precision columns stays under 300 KB of JSON."""
    X = wide_frame(20_000)
    ref = build_reference(X, np.random.default_rng(1).random(len(X)))
    assert len(ref.model_dump_json()) < 300_000


def test_numeric_shares_and_sketch() -> None:
    """Check that bin shares and the missing share add to 1 and the sketch has its fixed size."""
    x = np.random.default_rng(0).normal(size=5_000)
    x[:100] = np.nan
    ref = numeric_reference(x)
    assert len(ref.shares) == len(ref.edges) + 1 == 10
    assert sum(ref.shares) + ref.missing_share == pytest.approx(1.0)
    assert len(ref.sketch) == SKETCH_POINTS and ref.sketch == sorted(ref.sketch)


def test_binary_numeric_column_keeps_distinct_edges() -> None:
    """Check that a 0/1 column gets unique edges and shares equal to its value frequencies."""
    ref = numeric_reference(np.array([0.0] * 700 + [1.0] * 300))
    assert ref.edges == [0.0, 1.0]
    assert ref.shares == pytest.approx([0.0, 0.7, 0.3])


def test_rare_categories_are_pooled() -> None:
    """Check that categories below 0.5 % go to __other__ and missing values to __missing__."""
    s = pd.Series(["a"] * 600 + ["b"] * 390 + ["r1", "r2", "r3"] + [None] * 7)
    ref = categorical_reference(s)
    assert ref.shares == pytest.approx({"a": 0.6, "b": 0.39, OTHER: 0.003, MISSING: 0.007})
    assert ref.pooled == 3


def test_kinds_follow_contract_and_dates_and_text_are_skipped() -> None:
    """Check that the contract's declared type wins over the dtype; datetime and text columns are skipped."""
    X = pd.DataFrame({"code": [1, 2, 3, 1] * 50, "when": pd.date_range("2024-01-01", periods=200), "x": np.arange(200.0),
                      "note": [f"free text {i}" for i in range(200)]})
    kinds = {"code": {"type": "categorical"}, "when": {"type": "datetime"}, "x": {"type": "numeric"}, "note": {"type": "text"}}
    ref = build_reference(X, None, kinds)
    assert isinstance(ref.columns["code"], CategoricalReference) and set(ref.columns["code"].shares) == {"1", "2", "3"}
    assert ref.skipped == ["when", "note"] and ref.score is None


def test_contract_column_absent_from_training_frame() -> None:
    """Check that a contract naming a column the training frame lacks raises a KpimlError."""
    with pytest.raises(KpimlError, match="lacks columns"):
        build_reference(pd.DataFrame({"a": [1.0]}), None, ["a", "b"])


def test_infinities_count_as_missing() -> None:
    """Check that infinite values neither break the bins nor leak into the JSON, and the frame is untouched."""
    X = pd.DataFrame({"x": np.r_[np.arange(98.0), np.inf, -np.inf]})
    ref = build_reference(X, None)
    col = ref.columns["x"]
    assert isinstance(col, NumericReference) and col.missing_share == pytest.approx(0.02) and col.max == 97.0
    assert "Infinity" not in ref.model_dump_json() and np.isinf(X["x"]).sum() == 2
