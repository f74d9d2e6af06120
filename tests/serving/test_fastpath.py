"""Tests of the compiled scoring path: equal to the sklearn pipeline, or not used at all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    QuantileTransformer,
)

from kpiml.artifact import load_bundle
from kpiml.features._transformers import FrameCoercer
from kpiml.serving import fastpath
from kpiml.serving.fastpath import (
    FallbackBlock,
    FastPreprocessor,
    LookupBlock,
    compile_model,
    synthetic_columns,
)


@pytest.fixture(scope="module")
def loaded(bundle: Path) -> object:
    return load_bundle(bundle)


def test_compiled_path_reproduces_the_bundle_exactly(loaded: object) -> None:
    """Check that the fast path gives the sklearn pipeline's predictions for 1 and 500 new rows."""
    fast, how = compile_model(loaded)
    assert fast is not None and how.startswith("compiled numpy path")
    for n in (1, 500):
        cols = synthetic_columns(loaded.contract, n, seed=11)  # type: ignore[attr-defined]
        slow = loaded.model.predict_matrix(pd.DataFrame(cols))  # type: ignore[attr-defined]
        np.testing.assert_allclose(fast.predict_matrix(cols), slow, rtol=0, atol=1e-12)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=200), "a": rng.choice(["p", "q", "r"], 200), "b": rng.choice(["u", "v"], 200)})


@pytest.mark.parametrize(
    ("steps", "kinds"),
    [
        ([("q", QuantileTransformer(n_quantiles=20), ["x"]), ("c", make_pipeline(SimpleImputer(strategy="constant", fill_value="__missing__"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)), ["a", "b"])], (FallbackBlock, LookupBlock)),
        ([("c", make_pipeline(OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2), PolynomialFeatures(2, interaction_only=True)), ["a", "b"])], (FallbackBlock,)),
    ],
)
def test_unknown_steps_and_mixed_outputs_fall_back_to_sklearn_per_block(steps: list, kinds: tuple) -> None:
    """Check that a step the compiler lacks, or an output that mixes two columns, is scored by
    sklearn for that block only, with the same result."""
    frame = _frame()
    coerce_kinds = {"x": "numeric", "a": "categorical", "b": "categorical"}
    pipe = Pipeline([("coerce", FrameCoercer(coerce_kinds)), ("columns", ColumnTransformer(steps, remainder="drop", sparse_threshold=0.0))]).fit(frame)
    fast = FastPreprocessor(pipe, coerce_kinds, {"a": ["p", "q", "r"], "b": ["u", "v"]})
    assert tuple(type(b) for _, b in fast.blocks) == kinds
    new = frame.head(30).copy()
    new.loc[0, "a"], new.loc[1, "b"] = "unseen", np.nan
    cols = {c: fastpath.np.asarray(new[c].to_numpy(dtype=object if c != "x" else "float64")) for c in new}
    np.testing.assert_allclose(fast.transform(cols, len(new)), pipe.transform(new), rtol=0, atol=1e-12)


def test_a_fast_path_that_differs_is_not_used(loaded: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that any disagreement with the sklearn pipeline makes the service use sklearn."""
    real = fastpath.FastModel.predict_matrix
    monkeypatch.setattr(fastpath.FastModel, "predict_matrix", lambda self, cols: real(self, cols) + 1e-6)
    fast, how = compile_model(loaded)
    assert fast is None and "differed" in how


def test_linear_models_are_scored_as_a_matrix_product(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that logistic and ridge parts predict through the compiled product (sklearn's
    predict is never called) with sklearn's numbers, and that other models keep sklearn's."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.tree import DecisionTreeClassifier

    from kpiml.training import SklearnFitted

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] + rng.normal(size=300) > 0).astype(int)
    logistic = SklearnFitted(LogisticRegression().fit(x, y), "binary", 2)
    ridge = SklearnFitted(Ridge(alpha=2.0).fit(x, x[:, 1] * 3), "regression")
    tree = SklearnFitted(DecisionTreeClassifier().fit(x, y), "binary", 2)
    want = [f.predict(x) for f in (logistic, ridge)]
    assert fastpath._predictor(tree) == tree.predict

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("sklearn called on the fast path")

    monkeypatch.setattr(LogisticRegression, "predict_proba", refuse)
    monkeypatch.setattr(Ridge, "predict", refuse)
    for fitted, expected in zip((logistic, ridge), want, strict=True):
        np.testing.assert_allclose(fastpath._predictor(fitted)(x), expected, rtol=0, atol=1e-12)


def test_reasons_from_the_fast_path_equal_the_pipelines(bundle: Path) -> None:
    """Check that the service explains rows on the compiled matrices (proven at load) and
    gives the same reasons as explaining through the sklearn pipeline."""
    from kpiml.serving.config import ServeConfig
    from kpiml.serving.decisions import reasons_for
    from kpiml.serving.source import ModelSource, build_loaded

    config = ServeConfig(model=str(bundle))
    source = ModelSource(config)
    model = build_loaded(config, source.version_key(), source.local_bundle(source.version_key()))
    if not model.scorer.explains:
        pytest.skip("no explanations module")
    assert model.scorer.fast_reasons
    cols = synthetic_columns(model.bundle.contract, 30, seed=9)
    encoded: list[np.ndarray] = []
    model.scorer.fast.predict_matrix(cols, encoded)
    quick = model.scorer.reasons(cols, 30, encoded)
    slow = reasons_for(model.bundle, pd.DataFrame(cols), model.scorer.top_reasons)
    assert [[r["feature"] for r in row] for row in quick] == [[r["feature"] for r in row] for row in slow]
    np.testing.assert_allclose([[r["effect"] for r in row] for row in quick], [[r["effect"] for r in row] for row in slow], rtol=0, atol=1e-9)
    # the answer's JSON is written straight from the explanation's arrays: same bytes as the dicts
    assert model.scorer.json_reasons
    assert model.scorer.reason_texts(cols, 30, encoded) == [json.dumps(row, separators=(",", ":")) for row in quick]
