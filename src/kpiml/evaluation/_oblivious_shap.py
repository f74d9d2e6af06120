"""Exact TreeSHAP for CatBoost's oblivious trees, computed once per leaf and looked up per row.

CatBoost's own `get_feature_importance(type="ShapValues")` costs about 40 ms a call plus 7 ms
a row for 1,700 trees of depth 6 (measured on hotel_rates), which is too slow for reasons in
`kpiml serve` and the report. In an oblivious tree every level splits on one (feature,
border) pair, so a row's SHAP values in a tree depend only on the leaf it reaches: this module
computes the values of every leaf of every tree once (vectorised over the trees), and
explaining rows is CatBoost's `calc_leaf_indexes` plus a table lookup. No library offers the
per-leaf table, so it is written here.

The values are the Shapley values of the path-dependent expectation that TreeSHAP (Lundberg
et al. 2020) uses: with the features in S fixed to the row's, a level on a feature in S sends
the row its own way, any other level splits it between both children in proportion to their
training weight. The tree's players are its distinct features (a feature split on at two
levels is one player), and the Shapley sum runs over all subsets of them, at most 2^depth.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHUNK_CELLS = 4_000_000  # bounds the per-chunk tables (32 MB of float64 each)


@dataclass(frozen=True)
class LeafGroup:
    """The trees of one depth: per tree and leaf, each player's contribution."""

    trees: np.ndarray  # positions of these trees in the model (columns of `calc_leaf_indexes`)
    values: np.ndarray  # (trees, leaves, players, outputs), already multiplied by the model's scale
    feature: np.ndarray  # (trees, players): input column of each player, n_features for an unused slot


@dataclass(frozen=True)
class LeafShap:
    """Per-leaf SHAP tables of a model's trees (grouped by depth: CatBoost stops a tree early
    where no split helps) and the base value."""

    groups: list[LeafGroup]
    expected: np.ndarray  # (outputs,): the base value, in raw-score units
    n_features: int

    def explain(self, leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Contributions (rows, outputs, features) and base (rows, outputs) for rows' leaf indexes (rows, trees)."""
        from scipy import sparse

        outputs = len(self.expected)
        contrib = np.zeros((len(leaves), outputs, self.n_features + 1))
        for g in self.groups:
            trees, _, players, _ = g.values.shape
            picked = g.values[np.arange(trees)[None, :], leaves[:, g.trees]]  # (rows, trees, players, outputs)
            slots = picked.reshape(len(leaves), trees * players, outputs)
            owner = sparse.csr_matrix((np.ones(trees * players), (np.arange(trees * players), g.feature.ravel())), shape=(trees * players, self.n_features + 1))
            for k in range(outputs):
                contrib[:, k] += np.asarray(owner.T @ slots[:, :, k].T).T
        return contrib[:, :, : self.n_features], np.broadcast_to(self.expected, (len(leaves), outputs)).copy()


def leaf_shap(model: Any) -> LeafShap:
    """The per-leaf SHAP tables of a fitted CatBoost model on a numeric matrix."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        model.save_model(str(path), format="json")
        dump = json.loads(path.read_text())
    trees = dump["oblivious_trees"]
    n_features = len(dump["features_info"].get("float_features", []))
    scale, bias = dump["scale_and_bias"]
    if any(s.get("split_type") != "FloatFeature" for t in trees for s in t["splits"]):
        raise ValueError("leaf_shap needs trees on numeric features")
    outputs = len(trees[0]["leaf_values"]) // (2 ** len(trees[0]["splits"]))
    expected = np.broadcast_to(np.asarray(bias, dtype="float64"), (outputs,)).copy()
    groups = []
    for depth in sorted({len(t["splits"]) for t in trees}):
        positions = np.array([i for i, t in enumerate(trees) if len(t["splits"]) == depth])
        group, empty = _group(trees, positions, depth, outputs, n_features)
        expected += scale * empty
        if group is not None:
            groups.append(LeafGroup(group.trees, scale * group.values, group.feature))
    return LeafShap(groups, expected, n_features)


def _group(trees: list[dict[str, Any]], positions: np.ndarray, depth: int, outputs: int, n_features: int) -> tuple[LeafGroup | None, np.ndarray]:
    """The table of the trees at `positions` (all of `depth`) and the sum of their expected outputs."""
    values = np.array([trees[i]["leaf_values"] for i in positions], dtype="float64").reshape(len(positions), 2**depth, outputs)
    weights = np.array([trees[i]["leaf_weights"] for i in positions], dtype="float64")
    if depth == 0:  # a tree without splits only shifts the base value
        return None, values[:, 0].sum(axis=0)
    level_feature = np.array([[s["float_feature_index"] for s in trees[i]["splits"]] for i in positions], dtype=np.int64)
    players, feature = _players(level_feature, n_features)
    step = max(1, CHUNK_CELLS // (4**depth * outputs))  # trees at a time: the expectations hold trees x 4^depth x outputs
    parts = [_leaf_values(values[i : i + step], weights[i : i + step], players[i : i + step]) for i in range(0, len(positions), step)]
    table = np.concatenate([p[0] for p in parts])
    return LeafGroup(positions, table, feature), np.concatenate([p[1] for p in parts]).sum(axis=0)


def _players(level_feature: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Player of each level (levels on the same feature share one) and each player's feature."""
    trees, depth = level_feature.shape
    players = np.zeros((trees, depth), dtype=np.int64)
    feature = np.full((trees, depth), n_features, dtype=np.int64)
    for t in range(trees):
        seen: dict[int, int] = {}
        for j, f in enumerate(level_feature[t]):
            players[t, j] = seen.setdefault(int(f), len(seen))
            feature[t, players[t, j]] = f
    return players, feature


def _cover_ratios(weights: np.ndarray, depth: int) -> np.ndarray:
    """ratio[t, j, leaf]: training weight of the leaf's node below level j over the node at level j."""
    trees = len(weights)
    shaped = weights.reshape((trees,) + (2,) * depth)  # axis 1 + a holds level depth - 1 - a (leaf bit j = level j)
    ratios = np.empty((trees, depth, 2**depth))
    for j in range(depth):
        below = tuple(1 + a for a in range(depth) if depth - 1 - a > j)  # levels deeper than j
        child = shaped.sum(axis=below, keepdims=True)
        parent = child.sum(axis=1 + depth - 1 - j, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(parent > 0, child / np.where(parent > 0, parent, 1.0), 0.0)
        ratios[:, j] = np.broadcast_to(ratio, shaped.shape).reshape(trees, -1)
    return ratios


def _expectations(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """v[t, L, p, k]: the tree's expected output for a row in leaf p when the levels in mask L
    follow the row and the others split by training weight."""
    trees, leaves, outputs = values.shape
    depth = int(math.log2(leaves))
    ratios = _cover_ratios(weights, depth)
    full = 2**depth - 1
    reach = np.empty((2**depth, trees, leaves))  # product of the ratios of the levels outside the mask
    reach[full] = 1.0
    out = np.empty((trees, 2**depth, leaves, outputs))
    for mask in range(full, -1, -1):
        free = [j for j in range(depth) if not mask >> j & 1]
        if free:
            reach[mask] = reach[mask | (1 << free[0])] * ratios[:, free[0]]
        shaped = (reach[mask][:, :, None] * values).reshape((trees,) + (2,) * depth + (outputs,))
        axes = tuple(1 + depth - 1 - j for j in free)
        summed = shaped.sum(axis=axes, keepdims=True) if axes else shaped
        out[:, mask] = np.broadcast_to(summed, shaped.shape).reshape(trees, leaves, outputs)
    return out


def _leaf_values(values: np.ndarray, weights: np.ndarray, players: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shapley values per (tree, leaf, player, output) and each tree's expected output."""
    trees, leaves, outputs = values.shape
    depth = players.shape[1]
    v = _expectations(values, weights)
    counts = players.max(axis=1) + 1  # players per tree
    # level mask of each player subset P, per tree: the levels whose player is in P
    subsets = np.arange(2**depth)
    level_mask = np.zeros((trees, 2**depth), dtype=np.int64)
    for j in range(depth):
        level_mask |= ((subsets[None, :] >> players[:, j : j + 1]) & 1) << j
    by_subset = np.take_along_axis(v, level_mask[:, :, None, None], axis=1)  # (trees, subsets, leaves, outputs)
    sizes = np.array([bin(x).count("1") for x in subsets])
    weight_of = _shapley_weights(depth)  # [players, size]
    table = np.zeros((trees, leaves, depth, outputs))
    for i in range(depth):
        without = subsets[(subsets >> i & 1) == 0]
        # player i exists and the subset uses existing players only
        valid = (counts[:, None] > i) & (without[None, :] < (1 << counts[:, None]))
        weight = np.where(valid, weight_of[counts[:, None], sizes[without][None, :]], 0.0)  # (trees, subsets)
        gain = by_subset[:, without | (1 << i)] - by_subset[:, without]  # (trees, subsets, leaves, outputs)
        table[:, :, i] = np.einsum("ts,tslk->tlk", weight, gain)
    return table, by_subset[:, 0, 0]


def _shapley_weights(depth: int) -> np.ndarray:
    """w[m, s] = s! (m - s - 1)! / m!: the Shapley weight of a subset of s of m players (0 where s >= m)."""
    out = np.zeros((depth + 1, depth + 1))
    for m in range(1, depth + 1):
        for size in range(m):
            out[m, size] = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
    return out
