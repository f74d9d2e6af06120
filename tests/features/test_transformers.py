"""Tests of kpiml's own sklearn transformers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from kpiml.features import (
    DateParts,
    FeaturePruner,
    FrameCoercer,
    HingeBasis,
    OutlierClipper,
    TextEmbedder,
    coerce_column,
)


def test_coerce_column_handles_pyarrow_and_nullable_types() -> None:
    """Check that pyarrow strings, nullable ints and pd.NA become float64/NaN and str/NaN."""
    nums = pd.Series([1, None, 3], dtype="Int64")
    assert np.isnan(coerce_column(nums, "numeric")[1]) and coerce_column(nums, "numeric").dtype == np.float64
    cats = pd.Series(["a", None, "b"], dtype="string[pyarrow]")
    out = coerce_column(cats, "categorical")
    assert out[0] == "a" and isinstance(out[1], float) and np.isnan(out[1])
    assert list(coerce_column(pd.Series([3.0, 4.5]), "categorical")) == ["3", "4.5"]


@pytest.mark.parametrize("values", [["yes", "no", None], [True, False, None], ["True", "FALSE", ""], [1, 0, None]])
def test_boolean_spellings_map_to_one_and_zero(values: list[object]) -> None:
    """Check that every usual spelling of a flag becomes 1.0 / 0.0 / NaN."""
    out = coerce_column(pd.Series(values, dtype=object), "boolean")
    assert out[0] == 1.0 and out[1] == 0.0 and np.isnan(out[2])


def test_frame_coercer_selects_and_refuses_unknown_kinds() -> None:
    """Check that the coercer keeps only the listed columns and rejects an unknown kind."""
    frame = pd.DataFrame({"a": ["1", "2"], "b": ["x", "y"], "c": [1, 2]})
    out = FrameCoercer({"a": "numeric", "b": "categorical"}).fit_transform(frame)
    assert list(out.columns) == ["a", "b"] and out["a"].dtype == np.float64
    with pytest.raises(ValueError, match="unknown column kinds"):
        FrameCoercer({"a": "strange"}).fit(frame)
    with pytest.raises(NotFittedError):
        FrameCoercer({"a": "numeric"}).transform(frame)


def test_date_parts_drop_constant_parts() -> None:
    """Check that a date-only column yields no hour feature and parses strings at transform."""
    frame = pd.DataFrame({"d": pd.to_datetime(["2024-01-05", "2024-03-09", "2025-07-01"])})
    dp = DateParts().fit(frame)
    names = list(dp.get_feature_names_out())
    assert "d__hour" not in names and "d__month" in names and "d__days" in names
    out = dp.transform(pd.DataFrame({"d": ["2024-02-01", None]}))
    assert out.shape == (2, len(names)) and np.isnan(out[1]).all()


def test_outlier_clipper_learns_bounds_from_fit_data_only() -> None:
    """Check that IQR bounds come from the fitted rows and clip new extremes."""
    train = np.arange(100, dtype=float).reshape(-1, 1)
    clip = OutlierClipper("clip_iqr", factor=1.5).fit(train)
    assert clip.transform(np.array([[1e9]]))[0, 0] == clip.upper_[0] < 300
    assert OutlierClipper("log1p").fit(train).transform(np.array([[-np.e + 1]]))[0, 0] == pytest.approx(-1.0)
    assert clone(clip).get_params() == clip.get_params()


def test_hinge_basis_bends_at_training_quantiles_and_saves_safely(tmp_path: Path) -> None:
    """Check that hinge knots come from the fitted rows, stay linear beyond them, and the fitted basis saves with skops without trusting any function."""
    import skops.io as sio

    train = np.column_stack([np.arange(100.0), np.zeros(100)])
    basis = HingeBasis(n_knots=3).fit(train)
    assert np.allclose(basis.knots_[0], np.quantile(np.arange(100.0), [0.25, 0.5, 0.75])) and len(basis.knots_[1]) == 1
    far = basis.transform(np.array([[1e6, 0.0], [-5.0, 0.0]]))
    assert far.shape == (2, 4) and np.allclose(far[0, :3], 1e6 - basis.knots_[0]) and np.all(far[1] == 0)
    sio.dump(basis, tmp_path / "b.skops")
    assert sio.get_untrusted_types(file=tmp_path / "b.skops") == ["kpiml.features._transformers.HingeBasis"]


def test_hinge_basis_with_fixed_knots_bends_there_and_skips_knots_beyond_the_data() -> None:
    """Check that fixed knots give the days short of each knot, in the column's units, and a knot outside a column's range adds no column."""
    train = np.array([[0.0, 0.0], [40.0, 1.0], [200.0, 0.0], [400.0, 1.0]])
    basis = HingeBasis(knots=(30.0, 90.0, 180.0, 365.0)).fit(train)
    assert [k.tolist() for k in basis.knots_] == [[30.0, 90.0, 180.0, 365.0], []]
    assert basis.transform(np.array([[100.0, 1.0]])).tolist() == [[0.0, 0.0, 80.0, 265.0]]  # days short of each knot
    assert basis.get_feature_names_out(["tenure", "flag"]).tolist() == [f"tenure__hinge{j}" for j in range(4)]


def test_feature_pruner_drops_constants_and_duplicates() -> None:
    """Check that constant and perfectly correlated columns are removed, signal kept."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 1))
    X = np.hstack([x, 2 * x + 1, np.ones((400, 1)), rng.normal(size=(400, 1))])
    y = (x[:, 0] > 0).astype(int)
    pruner = FeaturePruner(importance=False).fit(X, y)
    assert pruner.keep_.tolist() == [True, False, False, True]
    assert pruner.transform(X).shape == (400, 2)
    assert list(pruner.get_feature_names_out(["a", "b", "c", "d"])) == ["a", "d"]


def test_text_embedder_gives_dense_components() -> None:
    """Check that free text becomes a fixed number of dense columns, missing text included."""
    text = pd.DataFrame({"t": ["late payment again", "happy customer", None, "payment failed late", "happy happy"] * 10})
    emb = TextEmbedder(n_components=3).fit(text)
    assert emb.transform(text).shape == (50, 3)
    assert len(emb.get_feature_names_out(["t"])) == 3
