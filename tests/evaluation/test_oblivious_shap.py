"""Tests of the per-leaf TreeSHAP table for CatBoost's oblivious trees against the textbook definition."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kpiml.evaluation._oblivious_shap import leaf_shap


def _expectation(tree: dict[str, Any], x: np.ndarray, fixed: set[int], level: int, leaf: int, weight: np.ndarray) -> np.ndarray:
    """Lundberg et al.'s EXPVALUE, walking the oblivious tree as a binary tree: a split on a
    feature in `fixed` follows x (NaN goes left, as CatBoost's default 'Min' treatment), any
    other split averages both children by their training weight."""
    splits = tree["splits"]
    if level == len(splits):
        return np.asarray(tree["leaf_values"], dtype=float).reshape(2 ** len(splits), -1)[leaf]
    split = splits[level]
    children = [leaf, leaf | (1 << level)]
    if split["float_feature_index"] in fixed:
        value = x[split["float_feature_index"]]
        go = 1 if (not np.isnan(value) and value > split["border"]) else 0
        return _expectation(tree, x, fixed, level + 1, children[go], weight)
    covers = [_cover(weight, len(splits), c, level + 1) for c in children]
    total = sum(covers)
    if total == 0:
        return np.zeros_like(_expectation(tree, x, fixed, level + 1, children[0], weight))
    return sum(c / total * _expectation(tree, x, fixed, level + 1, child, weight) for c, child in zip(covers, children, strict=True))


def _cover(weight: np.ndarray, depth: int, prefix: int, bits: int) -> float:
    """Training weight of the node whose path sets the low `bits` bits of the leaf index to `prefix`'s."""
    mask = (1 << bits) - 1
    return float(sum(w for leaf, w in enumerate(weight) if leaf & mask == prefix & mask))


def _reference(model: Any, tmp: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values (outputs, features) and base of one row by enumerating every feature subset of every tree."""
    model.save_model(str(tmp / "m.json"), format="json")
    dump = json.loads((tmp / "m.json").read_text())
    scale, bias = dump["scale_and_bias"]
    n_features = len(dump["features_info"]["float_features"])
    phi, base = 0.0, np.asarray(bias, dtype=float)
    for tree in dump["oblivious_trees"]:
        weight = np.asarray(tree["leaf_weights"], dtype=float)
        players = sorted({s["float_feature_index"] for s in tree["splits"]})
        value = lambda s, tree=tree, weight=weight: _expectation(tree, x, set(s), 0, 0, weight)  # noqa: E731
        out = np.zeros((len(value(())), n_features))
        m = len(players)
        for i in players:
            others = [p for p in players if p != i]
            for size in range(m):
                w = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
                for subset in itertools.combinations(others, size):
                    out[:, i] += w * (value((*subset, i)) - value(subset))
        phi = phi + scale * out
        base = base + scale * value(())
    return np.asarray(phi), base


def _data(n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    X[rng.random(n) < 0.1, 1] = np.nan
    return X, X[:, 0] * X[:, 2] + np.nan_to_num(X[:, 1]) + rng.normal(scale=0.3, size=n)


@pytest.mark.parametrize("problem", ["binary", "regression", "multiclass"])
def test_leaf_table_equals_treeshap_by_enumeration(problem: str, tmp_path: Path) -> None:
    """Check that looked-up contributions equal TreeSHAP computed by enumerating feature subsets (repeated features and NaN included)."""
    from catboost import CatBoostClassifier, CatBoostRegressor, Pool

    X, signal = _data()
    y = {"binary": (signal > 0).astype(int), "regression": signal, "multiclass": np.digitize(signal, [-0.5, 0.5])}[problem]
    model = (CatBoostRegressor if problem == "regression" else CatBoostClassifier)(
        iterations=8, depth=4, learning_rate=0.3, verbose=False, allow_writing_files=False, thread_count=1,
        **({"loss_function": "MultiClass"} if problem == "multiclass" else {}))
    model.fit(X, y)
    rows = X[:6]
    contrib, base = leaf_shap(model).explain(model.calc_leaf_indexes(Pool(rows)))
    for r, x in enumerate(rows):
        phi, expected = _reference(model, tmp_path, x)
        np.testing.assert_allclose(contrib[r], phi, rtol=0, atol=1e-10)
        np.testing.assert_allclose(base[r], expected, rtol=0, atol=1e-10)
    raw = model.predict(rows, prediction_type="RawFormulaVal").reshape(len(rows), -1)
    np.testing.assert_allclose(contrib.sum(axis=2) + base, raw, rtol=0, atol=1e-9)


def test_deep_models_are_tabled_in_chunks_and_stay_additive() -> None:
    """Check that depth-8 trees (tabled a few trees at a time) still add up to CatBoost's raw score."""
    from catboost import CatBoostClassifier, Pool

    X, signal = _data(3000)
    model = CatBoostClassifier(iterations=60, depth=8, verbose=False, allow_writing_files=False, thread_count=1).fit(X, (signal > 0).astype(int))
    contrib, base = leaf_shap(model).explain(model.calc_leaf_indexes(Pool(X[:200])))
    np.testing.assert_allclose(contrib[:, 0].sum(axis=1) + base[:, 0], model.predict(X[:200], prediction_type="RawFormulaVal"), rtol=0, atol=1e-9)


def test_trees_of_several_depths_are_explained_exactly(tmp_path: Path) -> None:
    """Check that a model whose trees stop at different depths (few distinct values to split) is explained as by enumeration."""
    import collections

    from catboost import CatBoostRegressor, Pool

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 2, 300), rng.integers(0, 2, 300), rng.normal(size=300)]).astype(float)
    model = CatBoostRegressor(iterations=20, depth=6, verbose=False, allow_writing_files=False, thread_count=1).fit(X, X[:, 0] * 2 + X[:, 1] + 0.5 * X[:, 2])
    model.save_model(str(tmp_path / "m.json"), format="json")
    depths = collections.Counter(len(t["splits"]) for t in json.loads((tmp_path / "m.json").read_text())["oblivious_trees"])
    assert len(depths) > 1  # the premise: trees of more than one depth
    contrib, base = leaf_shap(model).explain(model.calc_leaf_indexes(Pool(X[:3])))
    for r in range(3):
        phi, expected = _reference(model, tmp_path, X[r])
        np.testing.assert_allclose(contrib[r], phi, rtol=0, atol=1e-10)
        np.testing.assert_allclose(base[r], expected, rtol=0, atol=1e-10)
