"""A compiled numpy scoring path, used only once proven equal to the bundle's sklearn pipeline.

The bundle's preprocessors (coercer -> ColumnTransformer -> optional pruner) cost tens of
milliseconds per call whatever the row count: pandas indexing and sklearn's input checks in
every step of every group of every fold model. A REST service calls them for every micro-batch,
so that fixed cost is its latency. This module rebuilds each preprocessor from the fitted
objects, block by block of the ColumnTransformer:

- categorical and boolean blocks become lookup tables: the real sklearn block is run once per
  known value of each column (contract categories, the encoders' `categories_`, missing, one
  unseen value), and every output column is taken from the table of the one input column it
  depends on. Exact for any encoder whose outputs each depend on a single input column
  (one-hot, ordinal, target encoding, imputers), which the probe itself checks;
- numeric blocks become numpy operations for the steps kpiml's builder uses (imputer with
  missing indicator, standard / robust scaler, outlier clipper, passthrough);
- anything else (dates, text, unknown steps) calls its sklearn block on just its columns.

`compile_model` then scores a few hundred synthetic rows (training ranges and beyond, every
category, unseen values, missing values) both ways and keeps the fast path only if every
prediction agrees to 1e-9; otherwise the service scores through the sklearn pipeline and
says why in `GET /model`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger("kpiml.serve")
Columns = dict[str, np.ndarray]
UNSEEN = "\x00kpiml-unseen\x00"
TOLERANCE = 1e-9


class Unsupported(Exception):
    """A step the compiler does not know: that block falls back to sklearn."""


def _steps(trans: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    return [s for _, s in trans.steps] if isinstance(trans, Pipeline) else [trans]


def _numeric_op(step: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The numpy equivalent of one fitted numeric step, or Unsupported."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer, RobustScaler, StandardScaler

    from kpiml.features._transformers import OutlierClipper

    if isinstance(step, str) and step == "passthrough":
        return lambda x: x
    if type(step) is FunctionTransformer and step.func is None:
        return lambda x: x
    if type(step) is SimpleImputer:
        return _imputer_op(step)
    if type(step) is StandardScaler:
        mean = step.mean_ if step.with_mean else 0.0
        scale = step.scale_ if step.with_std else 1.0
        return lambda x: (x - mean) / scale
    if type(step) is RobustScaler:
        center = step.center_ if step.with_centering else 0.0
        rscale = step.scale_ if step.with_scaling else 1.0
        return lambda x: (x - center) / rscale
    if type(step) is OutlierClipper:
        return step.transform
    raise Unsupported(type(step).__name__)


def _imputer_op(step: Any) -> Callable[[np.ndarray], np.ndarray]:
    stats = np.asarray(step.statistics_, dtype="float64")
    missing = step.missing_values
    if not (isinstance(missing, float) and np.isnan(missing)) or np.isnan(stats).any():
        raise Unsupported("SimpleImputer with non-NaN missing marker or dropped empty columns")
    flagged = np.asarray(step.indicator_.features_) if getattr(step, "indicator_", None) is not None else None

    def impute(x: np.ndarray) -> np.ndarray:
        nan = np.isnan(x)
        out = np.where(nan, stats, x)
        return out if flagged is None else np.concatenate((out, nan[:, flagged].astype("float64")), axis=1)

    return impute


class NumericBlock:
    """Numeric columns through a chain of numpy operations."""

    def __init__(self, trans: Any, cols: list[str]) -> None:
        self.cols = cols
        self.ops = [_numeric_op(s) for s in _steps(trans)]

    def transform(self, columns: Columns, n: int, cache: dict[Any, np.ndarray] | None = None) -> np.ndarray:
        x: np.ndarray | None
        if not self.cols:
            x = np.zeros((n, 0))
        else:  # the fold models of a member read the same columns: stack them once (no op writes in place)
            key = ("numeric", *self.cols)
            x = cache.get(key) if cache is not None else None
            if x is None:
                x = np.column_stack([columns[c] for c in self.cols]).astype("float64", copy=False)
                if cache is not None:
                    cache[key] = x
        for op in self.ops:
            x = op(x)
        return np.asarray(x, dtype="float64")


class FallbackBlock:
    """Any block run by sklearn itself on a DataFrame of just its (already coerced) columns."""

    def __init__(self, trans: Any, cols: list[str]) -> None:
        self.trans, self.cols = trans, cols

    def transform(self, columns: Columns, n: int, cache: dict[Any, np.ndarray] | None = None) -> np.ndarray:
        import pandas as pd

        out = self.trans.transform(pd.DataFrame({c: columns[c] for c in self.cols}))
        return np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype="float64").reshape(n, -1)


def _vocabulary(trans: Any, cols: list[str], contract_cats: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every category a block can tell apart: the contract's and its encoders' `categories_`."""
    from kpiml.features._transformers import MISSING

    vocab = {c: list(dict.fromkeys([*contract_cats.get(c, []), MISSING])) for c in cols}
    for step in _steps(trans):
        cats = getattr(step, "categories_", None)
        if cats is None or len(cats) != len(cols):
            continue
        for c, values in zip(cols, cats, strict=True):
            vocab[c] = list(dict.fromkeys([*vocab[c], *(str(v) for v in values if isinstance(v, str))]))
    return vocab


def _block_frame(cols: list[str], values: dict[str, list[Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame({c: np.array(values[c], dtype=object) for c in cols})


def _varies(out: np.ndarray) -> np.ndarray:
    same = (out == out[0]) | (np.isnan(out) & np.isnan(out[0]))
    return ~same.all(axis=0)


class LookupBlock:
    """Categorical columns through tables of the real block's output for every known value."""

    def __init__(self, trans: Any, cols: list[str], contract_cats: dict[str, list[str]]) -> None:
        vocab = _vocabulary(trans, cols, contract_cats)
        run = lambda values: np.asarray(trans.transform(_block_frame(cols, values)), dtype="float64")  # noqa: E731
        base = {c: [vocab[c][0]] for c in cols}
        self.const = run(base)[0]
        self.cols, self.owner = cols, np.full(len(self.const), -1)
        self.tables: list[np.ndarray] = []
        self.index: list[dict[str, int]] = []
        self.keys: list[tuple[str, ...]] = []
        self.missing_at: list[int] = []
        self.unseen_at: list[int] = []
        for j, c in enumerate(cols):
            values = [*vocab[c], UNSEEN, np.nan]
            out = run({**{k: v * len(values) for k, v in base.items()}, c: values})
            varies = _varies(out)
            if (self.owner[varies] >= 0).any():
                raise Unsupported(f"an output of block {cols} depends on more than one column")
            self.owner[varies] = j
            self.tables.append(out)
            self.index.append({v: i for i, v in enumerate(vocab[c])})
            self.keys.append(tuple(vocab[c]))
            self.unseen_at.append(len(values) - 2)
            self.missing_at.append(len(values) - 1)
        self._gather_plan()
        self._check(run, vocab)

    def _gather_plan(self) -> None:
        """Every output a column sets, read with one gather from the stacked tables: output p
        of row r is `stacked[offset of p's column + code of r in that column, p]`: a few numpy
        calls whatever the column count, where a loop of one assignment per column was most of
        a small batch's preprocessing (with the numeric stacks shared by fold models,
        `predict_matrix` of 25 rows through 5 fold models went from 448 to 348 µs)."""
        self.used = [j for j in range(len(self.cols)) if (self.owner == j).any()]
        starts = np.concatenate([[0], np.cumsum([len(t) for t in self.tables])[:-1]]).astype(np.intp)
        self.stacked = np.vstack(self.tables) if self.tables else np.zeros((0, len(self.const)))
        self.owned_at = np.flatnonzero(self.owner >= 0)
        owners = self.owner[self.owned_at]
        self.pick = np.searchsorted(self.used, owners).astype(np.intp)  # position in `used`
        self.offset = starts[owners]

    def _check(self, run: Callable[[dict[str, list[Any]]], np.ndarray], vocab: dict[str, list[str]]) -> None:
        """Probing one column at a time misses outputs that mix columns (a product of two codes
        is constant while the other sits at its baseline): compare random combinations too."""
        rng = np.random.default_rng(0)
        sample = {c: [[*vocab[c], UNSEEN, np.nan][i] for i in rng.integers(0, len(vocab[c]) + 2, 256)] for c in self.cols}
        want = run(sample)
        got = self.transform({c: np.array(v, dtype=object) for c, v in sample.items()}, 256)
        if want.shape != got.shape or not np.array_equal(want, got, equal_nan=True):
            raise Unsupported(f"block {self.cols} is not a per-column lookup")

    def transform(self, columns: Columns, n: int, cache: dict[Any, np.ndarray] | None = None) -> np.ndarray:
        out = np.empty((n, len(self.const)))
        out[:] = self.const
        if not self.used:
            return out
        cache = {} if cache is None else cache
        key = tuple((self.cols[j], self.keys[j]) for j in self.used)  # fold models of one member share their vocabulary: code once
        codes = cache.get(key)
        if codes is None:
            codes = cache[key] = np.column_stack([self._column_codes(columns, j, cache) for j in self.used])
        out[:, self.owned_at] = self.stacked[codes[:, self.pick] + self.offset, self.owned_at]
        return out

    def _column_codes(self, columns: Columns, j: int, cache: dict[Any, np.ndarray]) -> np.ndarray:
        key = (self.cols[j], self.keys[j])
        codes = cache.get(key)
        if codes is None:
            codes = cache[key] = _codes(columns[self.cols[j]], self.index[j], self.unseen_at[j], self.missing_at[j])
        return codes


def _codes(col: np.ndarray, index: dict[str, int], unseen: int, missing: int) -> np.ndarray:
    """Row numbers in a lookup table: text through a dict, missing values (None, NaN, NA) to
    `missing`, anything else to `unseen`. A dict lookup per value beats pandas' hash table at
    every size measured (10,000 rows: 1 ms against 4 ms for `pd.Categorical`, whose categories
    pandas 3 turns into Arrow strings)."""
    get = index.get
    return np.fromiter((get(v, unseen) if v.__class__ is str else _other_code(v, index, unseen, missing) for v in col.tolist()), dtype=np.intp, count=len(col))


def _other_code(value: Any, index: dict[str, int], unseen: int, missing: int) -> int:
    import pandas as pd

    if isinstance(value, str):  # a str subclass (numpy's str_) equals its text
        return index.get(value, unseen)
    return missing if pd.isna(value) else unseen


def _block(trans: Any, cols: list[str], kinds: dict[str, str], contract_cats: dict[str, list[str]]) -> Any:
    kind = kinds.get(cols[0], "numeric") if cols else "numeric"
    try:
        if kind == "categorical":
            return LookupBlock(trans, cols, contract_cats)
        if kind in ("numeric", "boolean"):
            return NumericBlock(trans, cols)
    except Exception as exc:  # Unsupported, or a probe the block refused: sklearn scores it
        log.info("fast path: block %s scored by sklearn (%s)", cols, exc)
    return FallbackBlock(trans, cols)


class FastPreprocessor:
    """A fitted kpiml preprocessor (coercer -> ColumnTransformer -> optional pruner) in numpy."""

    def __init__(self, pipeline: Any, kinds: dict[str, str], contract_cats: dict[str, list[str]]) -> None:
        from sklearn.compose import ColumnTransformer

        from kpiml.features._transformers import FeaturePruner, FrameCoercer

        names = [type(s).__name__ for _, s in pipeline.steps]
        steps = [s for _, s in pipeline.steps]
        if len(steps) not in (2, 3) or not isinstance(steps[0], FrameCoercer) or not isinstance(steps[1], ColumnTransformer):
            raise Unsupported(f"preprocessor steps {names}")
        if len(steps) == 3 and not isinstance(steps[2], FeaturePruner):
            raise Unsupported(f"preprocessor steps {names}")
        if dict(steps[0].kinds or {}) != {c: kinds[c] for c in steps[0].columns_ if c in kinds}:
            raise Unsupported("the coercer's column kinds differ from the contract's")
        ct = steps[1]
        if ct.remainder != "drop" or ct.sparse_threshold != 0:
            raise Unsupported("ColumnTransformer with a remainder or sparse output")
        self.blocks = []
        for name, trans, cols in ct.transformers_:
            if (isinstance(trans, str) and trans == "drop") or name == "remainder":
                continue
            if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
                raise Unsupported("column selectors other than names")
            self.blocks.append((ct.output_indices_[name], _block(trans, cols, kinds, contract_cats)))
        self.width = max((sl.stop for sl, _ in self.blocks), default=0)
        self.keep = steps[2].keep_ if len(steps) == 3 else None

    def transform(self, columns: Columns, n: int, cache: dict[Any, np.ndarray] | None = None) -> np.ndarray:
        out = np.empty((n, self.width))
        for sl, block in self.blocks:
            out[:, sl] = block.transform(columns, n, cache)
        return out if self.keep is None else out[:, self.keep]


def _linear(fitted: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """Binary logistic regression and ridge as one matrix product: sklearn's input checks
    cost about a millisecond per call, which is most of a one-row prediction of a linear
    model (five fold models: five calls). Same formula as sklearn's `decision_function`."""
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression, Ridge

    est: Any = getattr(fitted, "estimator", None)
    if type(est) is LogisticRegression and fitted.problem == "binary" and len(est.classes_) == 2 and fitted.n_classes in (None, 2):
        coef_t, b = est.coef_.T, est.intercept_

        def proba(x: np.ndarray) -> np.ndarray:
            p = expit((x @ coef_t + b).reshape(-1))
            out = np.empty((len(p), 2))
            out[:, 0], out[:, 1] = 1 - p, p
            return out

        return proba
    if type(est) is Ridge and fitted.problem == "regression" and np.ndim(est.coef_) == 1:
        coef, intercept = est.coef_, est.intercept_
        return lambda x: np.asarray(x @ coef + intercept, dtype="float64").ravel()
    return None


def _predictor(estimator: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The estimator's `predict`; linear models as numpy (`_linear`); LightGBM boosters
    predict small batches on one thread, as OpenMP's start-up and the other requests'
    threads cost more than the trees themselves. `compile_model` proves each against sklearn."""
    from kpiml.training import LightGBMFitted, SklearnFitted

    if type(estimator) is SklearnFitted:
        return _linear(estimator) or estimator.predict
    if type(estimator) is not LightGBMFitted:
        return estimator.predict  # type: ignore[no-any-return]
    booster, rounds, problem = estimator.booster, estimator.rounds, estimator.problem

    def predict(x: np.ndarray) -> np.ndarray:
        p = np.asarray(booster.predict(x, num_iteration=rounds, num_threads=1 if len(x) < 2000 else 0), dtype="float64")
        if problem == "regression":
            return p.ravel()
        return np.column_stack([1 - p, p]) if p.ndim == 1 else p

    return predict


class FastModel:
    """`KpimlModel.predict_matrix` with compiled preprocessors, the same arithmetic in order."""

    def __init__(self, model: Any, contract: dict[str, Any]) -> None:
        kinds = {e["name"]: e.get("kind", "numeric") for e in contract["features"]}
        cats = {e["name"]: [str(c) for c in e.get("categories", [])] for e in contract["features"]}
        self.model = model
        self.members = [(m.weight, [(FastPreprocessor(p.preprocessor, kinds, cats), _predictor(p.estimator)) for p in m.parts]) for m in model.members]
        self.fallbacks = sum(isinstance(b, FallbackBlock) for _, parts in self.members for pre, _ in parts for _, b in pre.blocks)

    def predict_matrix(self, columns: Columns, encoded: list[np.ndarray] | None = None) -> np.ndarray:
        """The calibrated prediction matrix; each part's encoded matrix is appended to
        `encoded` when given (explanations reuse them instead of running sklearn again)."""
        n = len(next(iter(columns.values())))
        total = sum(w for w, _ in self.members)
        cache: dict[Any, np.ndarray] = {}
        keep = encoded if encoded is not None else []
        blended = 0.0
        for w, parts in self.members:
            preds = []
            for pre, predict in parts:
                keep.append(pre.transform(columns, n, cache))
                preds.append(predict(keep[-1]))
            blended = blended + w / total * np.mean(preds, axis=0)
        pred = np.asarray(blended, dtype="float64")
        if self.model.problem != "regression" and self.model.calibrator is not None:
            pred = self.model.calibrator.transform(pred)
        return pred


class _Encoded:
    """A part's preprocessor as `explain` sees it: `transform` of the frame being explained
    returns the matrix the fast path already computed (proven equal to the pipeline's); the
    fitted steps (`named_steps`, for the column map and reference) are the real pipeline's."""

    def __init__(self, real: Any, matrix: np.ndarray, frame: Any) -> None:
        self._real, self._matrix, self._frame = real, matrix, frame

    def transform(self, frame: Any) -> Any:
        return self._matrix if frame is self._frame else self._real.transform(frame)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def encoded_model(model: Any, encoded: list[np.ndarray], frame: Any) -> Any:
    """`model` (a KpimlModel) whose parts transform `frame` into the given matrices, in the
    order `FastModel.predict_matrix` computed them."""
    from dataclasses import replace

    mats = iter(encoded)
    members = [replace(m, parts=[replace(p, preprocessor=_Encoded(p.preprocessor, next(mats), frame)) for p in m.parts]) for m in model.members]
    return replace(model, members=members)


def _numbers(entry: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    lo, hi = entry.get("min"), entry.get("max")
    lo, hi = (float(lo), float(hi)) if lo is not None and hi is not None else (-100.0, 100.0)
    span = max(hi - lo, 1.0)
    x = rng.uniform(lo - span, hi + span, n)
    x[: n // 4] = np.round(rng.uniform(lo, hi, n // 4))
    if n >= 8:
        x[n // 4 : n // 4 + 2] = [lo, hi]
    x[rng.random(n) < 0.05] = np.nan
    return x


def _dates(entry: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    import pandas as pd

    lo = pd.Timestamp(entry.get("min") or "2000-01-01").value
    hi = pd.Timestamp(entry.get("max") or "2030-01-01").value
    span = max(hi - lo, 86_400 * 10**9)
    x = rng.integers(lo - span, hi + span, n).astype("datetime64[ns]")
    x[rng.random(n) < 0.05] = np.datetime64("NaT")
    return x


def synthetic_columns(contract: dict[str, Any], n: int = 400, seed: int = 0) -> Columns:
    """Rows that probe every path: training ranges and beyond, every category, unseen and
    missing values, in the representation the pipeline's coercer produces."""
    rng = np.random.default_rng(seed)
    out: Columns = {}
    for e in contract["features"]:
        kind = e.get("kind", "numeric")
        if kind == "numeric":
            out[e["name"]] = _numbers(e, n, rng)
        elif kind == "boolean":
            out[e["name"]] = rng.choice(np.array([0.0, 1.0, np.nan]), n)
        elif kind == "datetime":
            out[e["name"]] = _dates(e, n, rng)
        else:
            pool = [*(str(c) for c in e.get("categories", [])), "kpiml-unseen-value", "", np.nan] if kind == "categorical" else ["some text", "other words here", "", np.nan]
            out[e["name"]] = np.array([pool[i] for i in rng.integers(0, len(pool), n)], dtype=object)
    return out


def _difference(model: Any, fast: FastModel, contract: dict[str, Any]) -> float:
    import pandas as pd

    cols = synthetic_columns(contract)
    slow = np.asarray(model.predict_matrix(pd.DataFrame(cols)), dtype="float64")
    quick = fast.predict_matrix(cols)
    if slow.shape != quick.shape:
        return float("inf")
    return float(np.max(np.abs(slow - quick))) if slow.size else 0.0


def compile_model(bundle: Any) -> tuple[FastModel | None, str]:
    """The fast path of a bundle if it reproduces the sklearn pipeline, and how it is scored."""
    try:
        fast = FastModel(bundle.model, bundle.contract)
        gap = _difference(bundle.model, fast, bundle.contract)
    except Exception as exc:  # any surprise: serve through the bundle's own pipeline
        log.warning("fast path unavailable (%s: %s); scoring through the sklearn pipeline", type(exc).__name__, exc)
        return None, f"sklearn pipeline (fast path unavailable: {type(exc).__name__})"
    if not gap <= TOLERANCE:
        log.warning("fast path differs from the sklearn pipeline by %.3g; scoring through the sklearn pipeline", gap)
        return None, f"sklearn pipeline (fast path differed by {gap:.3g})"
    sklearn_blocks = f", {fast.fallbacks} block(s) through sklearn" if fast.fallbacks else ""
    return fast, f"compiled numpy path (max difference {gap:.1g} from the sklearn pipeline on 400 probe rows{sklearn_blocks})"
