"""Why a row got its score: per-row contributions of each input column, and global importance.

Contributions are computed per fitted part (one preprocessor + one estimator) in the part's
native space, on the part's own preprocessed matrix, then mapped back to the input columns:

* LightGBM / XGBoost: the libraries' own TreeSHAP (`pred_contrib` / `pred_contribs`); CatBoost:
  TreeSHAP from a per-leaf table of its oblivious trees (`_oblivious_shap`, as CatBoost's own
  ShapValues costs ~40 ms a call). In margin (log-odds) units for classifiers and target units
  for regression. Exact: the contributions plus the base value equal the booster's raw score.
* Logistic / ridge: coefficient x (x - reference) in the encoded space, with base
  intercept + coefficient . reference, exact in margin (or target) units. The reference is the
  training mean where the pipeline knows it (scaled columns are centred on it by the scaler);
  one-hot columns are centred on the uniform category mix (1/k each, the training shares are
  not stored in the pipeline), missing-value indicators on 0 and unscaled flags on the imputer's
  most frequent value. A `background` frame (e.g. training rows) replaces the reference by its
  encoded mean.
* Random forest / extra trees: Saabas path attribution (what `treeinterpreter` computes):
  each split's change of the node value is credited to the split's feature. Exact and additive
  (root value + contributions = the forest's probability), one `decision_path` call, but not
  SHAP: features split near the root can be under-credited. TreeSHAP on sklearn trees needs
  the `shap` package, which kpiml does not depend on.
* SVM / MLP (and anything else): occlusion. A column's effect is the change of the predicted
  probability (or value) when its encoded columns are set to the reference; the base value
  absorbs what the effects do not add up to (interactions). Costs one prediction per column.

A member averages its parts' probabilities and the blend averages its members' probabilities
with the blend weights, so to combine parts each part's margin contributions are rescaled
into probability units: phi_p = phi_m x (p - p0) / (m - m0), which keeps them additive (they
sum to p - p0 exactly) and keeps their signs and ratios. The calibrated score (what the user
sees) gets the same rescaling from the blend's probability, which gives the effects in
probability points; regression effects are in target units. The raw contributions stay
available (`Explanation.raw`): in margin units for a model of one booster or linear part,
in the blend's (pre-calibration) probability or target units otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Explanation", "Prepared", "ReasonTable", "explain", "global_importance", "reason_columns", "reason_table", "reason_text", "top_reasons"]


BOOSTERS = ("LightGBMFitted", "XGBoostFitted", "CatBoostFitted")  # fitted kinds with native TreeSHAP


@dataclass
class Explanation:
    """Contributions of each input column to each row's score.

    `raw` (rows x columns) plus `raw_base` equals `raw_score` in the `space` named (margin for a
    single booster / linear part, else the blend's probability or target units); `effect` plus
    `base` equals `score`, the score the user sees (calibrated probability of `target_class`,
    or predicted value). `pred` is the model's prediction matrix, as `predict_matrix` gives it.
    """

    columns: list[str]
    values: pd.DataFrame  # the input values as given (see `shown` for how a reason shows them)
    raw: np.ndarray
    raw_base: np.ndarray
    raw_score: np.ndarray
    space: str
    effect: np.ndarray
    base: np.ndarray
    score: np.ndarray
    target_class: list[str | None]
    pred: np.ndarray
    kinds: dict[str, str] = field(default_factory=dict)


@dataclass
class _Contrib:
    """One part's contributions per class: contrib (n, K, F), base (n, K), native prediction."""

    contrib: np.ndarray
    base: np.ndarray
    space: str  # "margin", "probability" or "target"
    pred: np.ndarray


class Prepared:
    """What `explain` reads from a model's fitted pipelines alone, kept between calls: each
    part's column map and reference point (by the part's position in the model). A service
    explaining many small batches would otherwise rebuild them from sklearn's feature names for
    every batch, which costs more than explaining a few rows. Filled on first use; only for
    the model (or a view of it with the same fitted parts, in the same order) it was made for."""

    def __init__(self, model: Any) -> None:
        self.columns = list(model.feature_columns)
        self._owners: dict[int, np.ndarray] = {}
        self._references: dict[int, np.ndarray] = {}

    def owners(self, index: int, preprocessor: Any, columns: list[str]) -> np.ndarray:
        if columns != self.columns:
            return column_map(preprocessor, columns)
        found = self._owners.get(index)
        if found is None:
            found = self._owners[index] = column_map(preprocessor, columns)
        return found

    def reference(self, index: int, preprocessor: Any, background: pd.DataFrame | None) -> np.ndarray:
        if background is not None and len(background):
            return _reference(preprocessor, background)
        found = self._references.get(index)
        if found is None:
            found = self._references[index] = _reference(preprocessor, None)
        return found


# ---- mapping encoded columns back to input columns ------------------------------------------


def _owner(name: str, columns: list[str]) -> str:
    """The input column an encoded column comes from: longest input name it starts with, once
    the prefixes that nested steps add are dropped (a FeatureUnion's "value__" / "spline__",
    a missing indicator's "missingindicator_")."""
    bare = name
    while True:
        bare = bare.removeprefix("missingindicator_")
        hits = [c for c in columns if bare == c or bare.startswith(c + "_")]
        if hits or "__" not in bare:
            return max(hits, key=len) if hits else columns[0]
        bare = bare.split("__", 1)[1]


def column_map(preprocessor: Any, columns: list[str]) -> np.ndarray:
    """A 0/1 matrix (encoded columns x input columns): which input column each output came from.

    Read from the fitted ColumnTransformer (each transformer's input columns and output slice,
    output names resolved within that transformer) and the optional pruner's kept mask.
    """
    transformer = preprocessor.named_steps["columns"]
    total = sum(s.stop - s.start for s in transformer.output_indices_.values())
    owners = np.zeros((total, len(columns)))
    index = {c: i for i, c in enumerate(columns)}
    for name, step, cols in transformer.transformers_:
        out = transformer.output_indices_.get(name)
        if out is None or out.stop == out.start:
            continue
        cols = list(cols)
        try:
            names = [str(n) for n in step.get_feature_names_out(np.asarray(cols, dtype=object))]
        except (AttributeError, ValueError, TypeError):
            names = [cols[0]] * (out.stop - out.start)
        for j, n in enumerate(names[: out.stop - out.start]):
            owners[out.start + j, index[_owner(n, cols)]] = 1.0
    if "prune" in preprocessor.named_steps:
        owners = owners[preprocessor.named_steps["prune"].keep_]
    return owners


def _reference(preprocessor: Any, background: pd.DataFrame | None) -> np.ndarray:
    """The encoded point contributions are measured from (see the module docstring)."""
    if background is not None and len(background):
        return np.asarray(preprocessor.transform(background), dtype="float64").mean(axis=0)
    transformer = preprocessor.named_steps["columns"]
    total = sum(s.stop - s.start for s in transformer.output_indices_.values())
    ref = np.zeros(total)
    for name, step, _cols in transformer.transformers_:
        out = transformer.output_indices_.get(name)
        if out is not None and out.stop > out.start:
            ref[out] = _step_reference(step, out.stop - out.start)
    if "prune" in preprocessor.named_steps:
        ref = ref[preprocessor.named_steps["prune"].keep_]
    return ref


def _step_reference(step: Any, width: int) -> np.ndarray:
    """Reference of one transformer's outputs: 0 after a scaler (the centre it learnt)."""
    last = step.steps[-1][1] if hasattr(step, "steps") else step
    kind = type(last).__name__
    if kind == "OneHotEncoder":
        names = [str(n) for n in last.get_feature_names_out([f"in{i}" for i in range(len(last.categories_))])]
        sizes = [sum(n.startswith(f"in{i}_") for n in names) for i in range(len(last.categories_))]
        return np.concatenate([np.full(s, 1.0 / s) for s in sizes if s])[:width]
    if kind == "SimpleImputer":  # unscaled numbers / flags: the imputer's median or mode
        try:
            stats = np.asarray(last.statistics_, dtype="float64")
        except (TypeError, ValueError):  # text statistics (categories): no numeric centre
            return np.zeros(width)
        return np.concatenate([stats, np.zeros(width - len(stats))])[:width]
    return np.zeros(width)


# ---- per-part contributions in native space ---------------------------------------------------


def _per_class(values: np.ndarray, n: int, k: int) -> np.ndarray:
    """Library output (n, k*(F+1)) or (n, k, F+1) as (n, k, F+1)."""
    return values.reshape(n, k, -1)


def _booster(part: Any, X: np.ndarray, problem: str, n_classes: int) -> _Contrib:
    fitted = part.estimator
    k = n_classes if problem == "multiclass" else 1
    from kpiml.training._estimators import small_batch_threads

    if type(fitted).__name__ == "LightGBMFitted":
        # TreeSHAP costs tens of times a prediction: all cores on big batches (the saved
        # booster says one thread), one on small ones where OpenMP's start-up dominates
        raw = fitted.booster.predict(X, num_iteration=fitted.rounds, pred_contrib=True, num_threads=small_batch_threads(len(X)))
    elif type(fitted).__name__ == "CatBoostFitted":
        raw = fitted.contributions(X)
    else:
        import xgboost as xgb

        with xgb.config_context(nthread=small_batch_threads(len(X))):
            raw = fitted.booster.predict(xgb.DMatrix(X), pred_contribs=True, iteration_range=(0, fitted.rounds))
    full = _per_class(np.asarray(raw, dtype="float64"), len(X), k)
    space = "target" if problem == "regression" else "margin"
    return _Contrib(full[:, :, :-1], full[:, :, -1], space, fitted.predict(X))


def _linear_predict(fitted: Any, X: np.ndarray) -> np.ndarray:
    """`fitted.predict(X)`; a binary logistic regression by sklearn's own formula
    (`decision_function`, then `expit`, stacked as [1 - p, p]) without its input checks, which
    cost more than the product on a small batch. Same operations in the same order: same bits."""
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression

    est = fitted.estimator
    if type(est) is LogisticRegression and getattr(fitted, "problem", None) == "binary" and len(est.classes_) == 2 and getattr(fitted, "n_classes", None) in (None, 2) and type(X) is np.ndarray and X.dtype == np.float64 and X.ndim == 2:
        p = expit((X @ est.coef_.T + est.intercept_).reshape(-1))
        return np.stack([1 - p, p], axis=1)
    return np.asarray(fitted.predict(X))


def _linear(part: Any, X: np.ndarray, problem: str, reference: np.ndarray) -> _Contrib:
    est = part.estimator.estimator
    coef = np.atleast_2d(np.asarray(est.coef_, dtype="float64"))
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype="float64"))
    contrib = (X - reference)[:, None, :] * coef[None, :, :]
    base = np.broadcast_to(intercept + coef @ reference, (len(X), len(intercept))).copy()
    return _Contrib(contrib, base, "target" if problem == "regression" else "margin", _linear_predict(part.estimator, X))


def _forest(part: Any, X: np.ndarray, problem: str) -> _Contrib:
    """Saabas path attribution for an sklearn forest (see the module docstring)."""
    from scipy import sparse

    forest = part.estimator.estimator
    path, _ = forest.decision_path(X)
    rows, cols, data, roots = [], [], [], []
    offset = 0
    for tree in forest.estimators_:
        t = tree.tree_
        values = t.value[:, 0, :] if problem != "binary" else t.value[:, 0, 1:2]
        parent = np.full(t.node_count, -1)
        inner = np.flatnonzero(t.children_left >= 0)
        parent[t.children_left[inner]] = inner
        parent[t.children_right[inner]] = inner
        child = np.flatnonzero(parent >= 0)
        rows.append(child + offset)
        cols.append(t.feature[parent[child]])
        data.append(values[child] - values[parent[child]])
        roots.append(values[0])
        offset += t.node_count
    r, c, d = np.concatenate(rows), np.concatenate(cols), np.concatenate(data)
    n_trees = len(forest.estimators_)
    per_class = [np.asarray((path @ sparse.csr_matrix((d[:, j], (r, c)), shape=(offset, X.shape[1]))).todense()) / n_trees for j in range(d.shape[1])]
    base = np.broadcast_to(np.mean(roots, axis=0), (len(X), d.shape[1])).copy()
    space = "target" if problem == "regression" else "probability"
    return _Contrib(np.stack(per_class, axis=1), base, space, part.estimator.predict(X))


def _class_view(pred: np.ndarray, problem: str) -> np.ndarray:
    """A prediction as (n, K): P(positive) for binary, all classes for multiclass, the value."""
    pred = np.asarray(pred, dtype="float64")
    if problem == "regression":
        return pred.reshape(-1, 1)
    return pred[:, 1:2] if problem == "binary" else pred


def _occlusion(part: Any, X: np.ndarray, problem: str, owners: np.ndarray, reference: np.ndarray) -> _Contrib:
    """Effect of each input column = prediction change when its encoded columns go to the reference."""
    pred = part.estimator.predict(X)
    full = _class_view(pred, problem)
    effects = np.zeros((len(X), full.shape[1], owners.shape[1]))
    for j in range(owners.shape[1]):
        encoded = owners[:, j] > 0
        if not encoded.any():
            continue
        moved = X.copy()
        moved[:, encoded] = reference[encoded]
        effects[:, :, j] = full - _class_view(part.estimator.predict(moved), problem)
    base = full - effects.sum(axis=2)
    return _Contrib(effects, base, "target" if problem == "regression" else "probability", pred)


def _part_contrib(part: Any, frame: pd.DataFrame, problem: str, n_classes: int, columns: list[str], background: pd.DataFrame | None, at: tuple[Prepared, int]) -> _Contrib:
    """Contributions of one part (number `at[1]` of the model), mapped to the input columns."""
    X = np.asarray(part.preprocessor.transform(frame), dtype="float64")
    prepared, index = at
    owners = prepared.owners(index, part.preprocessor, columns)
    fitted = part.estimator
    kind = type(fitted).__name__
    est = getattr(fitted, "estimator", None)
    name = type(est).__name__
    if kind in BOOSTERS:
        out = _booster(part, X, problem, n_classes)
    elif name in ("LogisticRegression", "Ridge", "LinearRegression") and _full_classes(fitted, problem):
        out = _linear(part, X, problem, prepared.reference(index, part.preprocessor, background))
    elif name.startswith(("RandomForest", "ExtraTrees")) and _full_classes(fitted, problem):
        out = _forest(part, X, problem)
    else:
        return _occlusion(part, X, problem, owners, prepared.reference(index, part.preprocessor, background))
    out.contrib = out.contrib @ owners
    return out


def _full_classes(fitted: Any, problem: str) -> bool:
    """Whether the estimator saw every class (else its outputs are padded and only occlusion fits)."""
    n = getattr(fitted, "n_classes", None)
    return problem == "regression" or n is None or len(getattr(fitted.estimator, "classes_", [])) == n


# ---- from margins to probabilities, parts to the blend, blend to the calibrated score ----------


def _rescale(contrib: np.ndarray, base: np.ndarray, total: np.ndarray, new_base: np.ndarray, new_total: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Contributions summing to total - base, rescaled to sum to new_total - new_base.

    `slope` is used where total == base (no change to share out): the local derivative.
    """
    gap = total - base
    tiny = np.abs(gap) < 1e-12
    ratio = np.where(tiny, slope, (new_total - new_base) / np.where(tiny, 1.0, gap))
    return contrib * ratio[..., None]


def _link(margin: np.ndarray, problem: str) -> np.ndarray:
    if problem == "multiclass":
        z = np.exp(margin - margin.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-margin))


def _in_blend_space(part: _Contrib, problem: str) -> tuple[np.ndarray, np.ndarray]:
    """A part's contributions and base in the space members are averaged in (probability/target)."""
    if part.space != "margin":
        return part.contrib, part.base
    p = _class_view(part.pred, problem)
    p0 = _link(part.base, problem)
    margin = part.base + part.contrib.sum(axis=2)
    return _rescale(part.contrib, part.base, margin, p0, p, p0 * (1 - p0)), p0


def _blend(model: Any, frame: pd.DataFrame, background: pd.DataFrame | None, prepared: Prepared) -> tuple[list[_Contrib], np.ndarray, np.ndarray, np.ndarray]:
    """All parts' contributions and the blend's contributions, base and (uncalibrated) matrix."""
    n_classes = len(model.classes)
    columns = list(model.feature_columns) or list(frame.columns)
    total = sum(m.weight for m in model.members)
    parts: list[_Contrib] = []
    contrib: Any = 0.0
    base: Any = 0.0
    blended: Any = 0.0
    at = 0
    for member in model.members:
        found = [_part_contrib(p, frame, model.problem, n_classes, columns, background, (prepared, at + i)) for i, p in enumerate(member.parts)]
        at += len(member.parts)
        parts.extend(found)
        spaced = [_in_blend_space(c, model.problem) for c in found]
        share = member.weight / total
        contrib = contrib + share * np.mean([c for c, _ in spaced], axis=0)
        base = base + share * np.mean([b for _, b in spaced], axis=0)
        blended = blended + share * np.mean([c.pred for c in found], axis=0)
    return parts, np.asarray(contrib), np.asarray(base), np.asarray(blended, dtype="float64")


def _full_matrix(view: np.ndarray, problem: str) -> np.ndarray:
    """(n, K) class view back to the prediction matrix shape the calibrator takes."""
    return np.column_stack([1 - view[:, 0], view[:, 0]]) if problem == "binary" else view


def _kinds(model: Any) -> dict[str, str]:
    """Input column -> kind, as the model's coercer reads the columns."""
    coercer = model.members[0].parts[0].preprocessor.named_steps.get("coerce") if model.members else None
    return dict(getattr(coercer, "kinds", None) or {})


def shown(values: pd.Series, kind: str | None) -> np.ndarray:
    """Input values as the model read them (its coercer's kind), so a reason says the same in
    `kpiml predict` (raw file values) and `kpiml serve` (typed request columns): dates as dates
    whatever their spelling, flags as yes / no whatever their spelling ('Y', True, 1)."""
    from kpiml.features import coerce_column

    if kind is None:
        return values.to_numpy(dtype=object)
    raw = values.to_numpy()
    if _already_read(raw, kind):  # typed request columns (kpiml serve): the coercer keeps them
        return np.array([_FLAG_WORDS.get(v, np.nan) for v in raw.tolist()], dtype=object) if kind == "boolean" else raw.astype(object)
    read = pd.Series(coerce_column(values, kind), index=values.index)
    return (read.map(_FLAG_WORDS) if kind == "boolean" else read).to_numpy(dtype=object)


_FLAG_WORDS = {1.0: "yes", 0.0: "no"}


def _already_read(raw: np.ndarray, kind: str) -> bool:
    """Whether `coerce_column(kind)` would return these values unchanged (float64 numbers and
    flags, Python str or NaN categories): then a few cells need no pandas."""
    if kind in ("numeric", "boolean"):
        return raw.dtype == np.float64
    if kind == "datetime":  # shown as Timestamps, which the slow path makes
        return False
    return raw.dtype == object and all(v.__class__ is str or (v.__class__ is float and v != v) for v in raw.tolist())


def _values(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`frame[columns]` on a fresh 0..n-1 index; a shallow copy when it already is that (a
    service explaining small batches: selecting columns costs milliseconds a batch)."""
    index = frame.index
    if list(frame.columns) == columns and isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame.copy(deep=False)
    return frame[columns].reset_index(drop=True)


def explain(model: Any, frame: pd.DataFrame, background: pd.DataFrame | None = None, prepared: Prepared | None = None) -> Explanation:
    """Contributions of each input column to each row's score, computed with the score itself.

    `model` is a `kpiml.training.KpimlModel`; `frame` holds its feature columns (raw, as
    `predict_matrix` takes them); `background` optionally sets the linear/occlusion reference;
    `prepared` (`Prepared(model)`) keeps what is read from the pipelines between calls.
    """
    columns = list(model.feature_columns) or list(frame.columns)
    parts, contrib, base, blended = _blend(model, frame, background, prepared or Prepared(model))
    problem = model.problem
    pred = blended
    if problem != "regression" and model.calibrator is not None:
        pred = model.calibrator.transform(blended)
    view, base_view = _class_view(pred, problem), base
    cal_base = _class_view(model.calibrator.transform(_full_matrix(base, problem)), problem) if problem != "regression" and model.calibrator is not None else base
    blend_view = _class_view(blended, problem)
    effect = _rescale(contrib, base_view, blend_view, cal_base, view, np.ones_like(view))
    pick = np.argmax(view, axis=1) if problem == "multiclass" else np.zeros(len(view), dtype=int)
    rows = np.arange(len(view))
    single = len(parts) == 1 and parts[0].space == "margin"
    raw, raw_base = (parts[0].contrib, parts[0].base) if single else (contrib, base)
    raw_total = raw_base + raw.sum(axis=2)
    labels: list[str | None] = [model.classes[int(k)] for k in pick] if problem == "multiclass" else ([model.positive or model.classes[-1]] * len(view) if problem == "binary" else [None] * len(view))
    return Explanation(
        columns=columns, values=_values(frame, columns), raw=raw[rows, pick], raw_base=raw_base[rows, pick],
        raw_score=raw_total[rows, pick], space="margin" if single else ("target" if problem == "regression" else "probability"),
        effect=effect[rows, pick], base=cal_base[rows, pick], score=view[rows, pick], target_class=labels, pred=pred, kinds=_kinds(model),
    )


# ---- words ----------------------------------------------------------------------------------


def plain_value(value: Any) -> Any:
    """A cell as JSON-ready Python: None for missing, numbers as int/float, dates as ISO text."""
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, np.datetime64) and np.isnat(value):
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and value != value:
            return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def _amount(effect: float, problem: str) -> str:
    size = abs(effect)
    if problem == "regression":
        return f"{size:,.4g}"
    return f"{size:.2f}" if size >= 0.01 else f"{size:.1g}"


def _thing(problem: str, target: str | None) -> str:
    return "the prediction" if problem == "regression" else f"the probability of {target}"


def _what(feature: str, shown: Any) -> str:
    if shown is None:
        return f"{feature} is missing"
    if isinstance(shown, float):
        return f"{feature} = {shown:.4g}"
    return f"{feature} = {shown}"


def _sentence(feature: str, shown: Any, effect: float, thing: str, problem: str) -> str:
    return _said(_what(feature, shown), effect, thing, problem)


def _said(what: str, effect: float, thing: str, problem: str) -> str:
    if effect == 0:
        return f"{what} did not change {thing}"
    return f"{what} {'raised' if effect > 0 else 'lowered'} {thing} by {_amount(effect, problem)}"


def reason_text(feature: str, value: Any, effect: float, problem: str, target: str | None) -> str:
    """One reason in plain words: 'tenure = 2 raised the probability of left by 0.21'."""
    return _sentence(feature, plain_value(value), effect, _thing(problem, target), problem)


def _cells(explanation: Explanation, problem: str, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values and texts of the chosen (row, rank) cells, read column by column and only for
    the rows where the column made the top k: reading a DataFrame cell by cell (`iat`), or
    reading every date of a big file, would cost more than the explanation itself."""
    values = np.empty(order.shape, dtype=object)
    texts = np.empty(order.shape, dtype=object)
    things = {t: _thing(problem, t) for t in set(explanation.target_class)}
    for j, name in enumerate(explanation.columns):
        rows, ranks = np.nonzero(order == j)
        if not len(rows):
            continue
        column = shown(explanation.values[name].iloc[rows], explanation.kinds.get(name))
        said = _Said(name)
        for r, q, v, e in zip(rows.tolist(), ranks.tolist(), column.tolist(), explanation.effect[rows, j].tolist(), strict=True):
            values[r, q], what = said(v)
            texts[r, q] = _said(what, e, things[explanation.target_class[r]], problem)
    return values, texts


class _Said:
    """A column's cells as (JSON-ready value, 'feature = value' words), each distinct value
    worded once: categories and flags repeat over thousands of rows."""

    def __init__(self, feature: str) -> None:
        self.feature = feature
        self.memo: dict[tuple[type, Any], tuple[Any, str]] = {}

    def __call__(self, value: Any) -> tuple[Any, str]:
        try:
            key = (value.__class__, value)
            hit = self.memo.get(key)
        except TypeError:  # an unhashable cell: worded each time
            key, hit = None, None
        if hit is None:
            plain = plain_value(value)
            hit = (plain, _what(self.feature, plain))
            if key is not None:
                self.memo[key] = hit
        return hit


def _order(explanation: Explanation, k: int) -> np.ndarray:
    """Column positions of each row's k largest |effects|, largest first."""
    return np.argsort(-np.abs(explanation.effect), axis=1, kind="stable")[:, : min(k, len(explanation.columns))]


@dataclass
class ReasonTable:
    """The k strongest reasons of every row as (rows x k) arrays, rank 0 the strongest: what
    `reasons_of` gives as dicts, for callers that write many rows (a service's JSON)."""

    names: list[str]
    order: np.ndarray  # column positions in `names`
    values: np.ndarray  # JSON-ready values, as `plain_value` gives them
    texts: np.ndarray
    effect: np.ndarray
    raw: np.ndarray


def reason_table(explanation: Explanation, problem: str, k: int = 3) -> ReasonTable:
    """The k largest effects of each row by absolute size, with their values and texts."""
    order = _order(explanation, k)
    values, texts = _cells(explanation, problem, order)
    rows = np.arange(len(order))[:, None]
    return ReasonTable(explanation.columns, order, values, texts, explanation.effect[rows, order], explanation.raw[rows, order])


def reasons_of(explanation: Explanation, problem: str, k: int = 3) -> list[list[dict[str, Any]]]:
    """Per row, the k largest effects by absolute size: feature, value, effect, raw and text."""
    t = reason_table(explanation, problem, k)
    effects, raws, names, values, texts = t.effect.tolist(), t.raw.tolist(), t.names, t.values, t.texts
    return [[{"feature": names[j], "value": values[i, q], "effect": effects[i][q], "raw": raws[i][q], "text": texts[i, q]} for q, j in enumerate(top)] for i, top in enumerate(t.order.tolist())]


def reason_columns(explanation: Explanation, problem: str, k: int = 3) -> pd.DataFrame:
    """Columns `reason_1` .. `reason_k`: the k strongest reasons of each row in plain words
    (the same texts `top_reasons` gives the service), for `kpiml predict`'s output; always k
    columns, so the file's layout does not depend on the model."""
    texts = _cells(explanation, problem, _order(explanation, k))[1]
    out = pd.DataFrame(texts, columns=[f"reason_{i + 1}" for i in range(texts.shape[1])], dtype=object)
    for i in range(texts.shape[1], k):  # fewer features than k: the columns stay, empty
        out[f"reason_{i + 1}"] = None
    return out


def top_reasons(model: Any, frame: pd.DataFrame, k: int = 3, prepared: Prepared | None = None) -> list[list[dict[str, Any]]]:
    """The k strongest reasons per row (the serving adapter's contract); `prepared` as in `explain`."""
    if k <= 0:
        return [[] for _ in range(len(frame))]
    return reasons_of(explain(model, frame, prepared=prepared), model.problem, k)


# ---- global importance ------------------------------------------------------------------------


def _contribution_based(model: Any) -> bool:
    exact = BOOSTERS
    linear = ("LogisticRegression", "Ridge", "LinearRegression")
    return all(type(p.estimator).__name__ in exact or type(getattr(p.estimator, "estimator", None)).__name__ in linear for m in model.members for p in m.parts)


def global_importance(model: Any, frame: pd.DataFrame, target: Any = None, *, seed: int = 0, max_rows: int = 5000, max_seconds: float | None = None) -> pd.DataFrame:
    """Importance of each input column: feature, importance (score units), method.

    Boosters and linear models: mean |contribution| over the rows of `frame` (TreeSHAP; exact
    linear contributions centred on `frame`'s mean), in probability points or target units.
    Other models: sklearn's permutation importance on the input columns; with `target` (labels
    aligned with `frame`) the drop in ROC-AUC / R^2, without it the mean |change of the score|
    when a column is shuffled. At most `max_rows` rows (a seeded sample) are used; with
    `max_seconds`, TreeSHAP explains them in chunks and stops after the chunk that passes that
    time (TreeSHAP's cost grows with the trees: 3,000-round boosters took 11 ms a row).
    """
    columns = list(model.feature_columns) or list(frame.columns)
    rows = _importance_rows(frame, seed, max_rows)
    labels = None if target is None else pd.Series(np.asarray(target), index=frame.index).loc[rows.index].to_numpy()
    if _contribution_based(model):
        values, seen = _mean_abs_effect(model, rows[columns], max_seconds)
        method = "TreeSHAP / linear: mean |contribution|" + (f" over {seen:,} rows" if seen < len(rows) else "")
    else:
        values = _permutation(model, rows[columns], labels, seed)
        method = "permutation importance" + ("" if labels is not None else " (mean |score change|)")
    out = pd.DataFrame({"feature": columns, "importance": values, "method": method})
    return out.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def _importance_rows(frame: pd.DataFrame, seed: int, max_rows: int) -> pd.DataFrame:
    return frame.sample(max_rows, random_state=seed) if len(frame) > max_rows else frame


def contributions(model: Any, frame: pd.DataFrame, *, seed: int = 0, max_rows: int = 5000) -> pd.DataFrame:
    """Each input column's contribution to each row's score, on the rows `global_importance`
    explains (a seeded sample of at most `max_rows`, which is also the reference)."""
    columns = list(model.feature_columns) or list(frame.columns)
    rows = _importance_rows(frame, seed, max_rows)[columns]
    return pd.DataFrame(explain(model, rows, background=rows).effect, columns=columns, index=rows.index)


def group_importance(effects: pd.DataFrame, groups: dict[str, tuple[str, ...]]) -> pd.Series:
    """Mean |sum of the contributions of a group's columns| (those whose names start with one
    of its prefixes), per group. Contributions add up, so this is the group's own effect on the
    scores; ranking single columns instead splits a cause measured by many correlated columns
    (logins over four windows, their share, their trend) into small pieces."""
    return pd.Series({name: float(effects[[c for c in effects if c.startswith(prefixes)]].sum(axis=1).abs().mean()) for name, prefixes in groups.items()})


IMPORTANCE_CHUNK = 50  # rows explained at a time when the importance has a time limit


def _mean_abs_effect(model: Any, rows: pd.DataFrame, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """Mean |effect| per column over `rows` (centred on all of them), or over the chunks of
    IMPORTANCE_CHUNK rows explained before `max_seconds` passed; and how many rows that was."""
    import time

    if max_seconds is not None and len(rows):
        explain(model, rows.iloc[:1])  # one-off set-up (CatBoost's leaf tables) is not the rows' cost
    start = time.monotonic()
    step = len(rows) if max_seconds is None else IMPORTANCE_CHUNK
    total, seen = np.zeros(rows.shape[1]), 0
    for first in range(0, len(rows), max(1, step)):
        chunk = rows.iloc[first : first + step]
        total += np.abs(explain(model, chunk, background=rows).effect).sum(axis=0)
        seen += len(chunk)
        if max_seconds is not None and time.monotonic() - start > max_seconds:
            break
    return total / max(1, seen), seen


class _Scored:
    """The model as an sklearn-style estimator on raw frames, for `permutation_importance`."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, X: Any, y: Any = None) -> _Scored:  # permutation_importance never fits
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.score(X), dtype="float64")


def _permutation(model: Any, frame: pd.DataFrame, labels: np.ndarray | None, seed: int) -> np.ndarray:
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import r2_score, roc_auc_score

    estimator = _Scored(model)
    if labels is None:
        reference = estimator.predict(frame)
        y = reference
        scoring: Any = lambda est, X, _y: -float(np.mean(np.abs(est.predict(X) - reference)))  # noqa: E731
    elif model.problem == "binary":
        y = (np.asarray(labels).astype(str) == str(model.positive or model.classes[-1])).astype(int)
        scoring = lambda est, X, yy: float(roc_auc_score(yy, est.predict(X)))  # noqa: E731
    elif model.problem == "regression":
        y = np.asarray(labels, dtype="float64")
        scoring = lambda est, X, yy: float(r2_score(yy, est.predict(X)))  # noqa: E731
    else:
        y = np.asarray(labels).astype(str)
        scoring = lambda est, X, yy: float(np.mean(np.asarray(model.classes, dtype=object)[model.predict_matrix(X).argmax(axis=1)] == yy))  # noqa: E731
    result = permutation_importance(estimator, frame, y, scoring=scoring, n_repeats=3, random_state=seed, n_jobs=1)
    return np.asarray(result.importances_mean, dtype="float64")
