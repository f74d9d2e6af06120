"""Custom sklearn transformers that the spec's column plans need and sklearn lacks.

Each follows the estimator contract (parameters stored in `__init__`, learning in `fit`,
learned attributes ending in `_`, `check_is_fitted` before use) so that they clone, nest in a
ColumnTransformer, fit only on training folds, and persist with skops like sklearn's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

KINDS = ("numeric", "categorical", "boolean", "datetime", "text")
MISSING = "__missing__"
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def _to_float(col: pd.Series) -> np.ndarray:
    """Numbers as float64 with NaN for missing, whatever the input dtype (pyarrow, nullable)."""
    if isinstance(col.dtype, pd.BooleanDtype) or col.dtype == bool:
        return col.astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(col, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def _to_bool_float(col: pd.Series) -> np.ndarray:
    """Booleans as 1.0 / 0.0 / NaN, accepting the spellings a CSV export uses."""
    if pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        return _to_float(col)
    text = col.astype("string").str.strip().str.lower()
    out = np.full(len(col), np.nan)
    out[text.isin(_TRUE).fillna(False).to_numpy(dtype=bool)] = 1.0
    out[text.isin(_FALSE).fillna(False).to_numpy(dtype=bool)] = 0.0
    return out


def _to_category_text(col: pd.Series) -> np.ndarray:
    """Categories as Python str objects with NaN for missing: what sklearn encoders expect.

    Numbers that are whole are written without '.0' so that 3 and 3.0 are the same category
    whether the column arrived as integers, floats or text.
    """
    if pd.api.types.is_float_dtype(col.dtype):
        values = col.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(values) & (values == np.round(values))
        text = np.where(whole, np.char.mod("%d", np.nan_to_num(values).astype(np.int64)), values.astype(str))
        return np.where(np.isnan(values), np.nan, text.astype(object)).astype(object)
    mask = col.isna().to_numpy(dtype=bool)
    out = col.astype("string").to_numpy(dtype=object, na_value=np.nan)
    out[mask] = np.nan
    return out


def _to_datetime(col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        values = col.dt.tz_localize(None) if getattr(col.dt, "tz", None) is not None else col
        return values.astype("datetime64[ns]")
    return pd.to_datetime(col, errors="coerce", format="mixed").astype("datetime64[ns]")


def coerce_column(col: pd.Series, kind: str) -> Any:
    """Convert one column to the representation the pipeline expects for its kind."""
    if kind == "numeric":
        return _to_float(col)
    if kind == "boolean":
        return _to_bool_float(col)
    if kind == "datetime":
        return _to_datetime(col).to_numpy()
    return _to_category_text(col)


class FrameCoercer(TransformerMixin, BaseEstimator):
    """Select the feature columns and give each the dtype its kind needs.

    Readers hand over pyarrow-backed strings, nullable integers and pd.NA; sklearn encoders
    and imputers want float64 with NaN and object strings. Doing the conversion inside the
    pipeline makes training and prediction see the same representation.
    """

    def __init__(self, kinds: dict[str, str] | None = None) -> None:
        self.kinds = kinds

    def fit(self, X: pd.DataFrame, y: Any = None) -> FrameCoercer:
        kinds = dict(self.kinds or {})
        unknown = sorted(set(kinds.values()) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown column kinds {unknown}; expected one of {KINDS}")
        missing = [c for c in kinds if c not in X.columns]
        if missing:
            raise ValueError(f"columns missing from the data: {missing}")
        self.columns_ = list(kinds)
        self.n_features_in_ = len(self.columns_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "columns_")
        kinds = dict(self.kinds or {})
        data = {c: coerce_column(X[c], kinds[c]) for c in self.columns_}
        return pd.DataFrame(data, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "columns_")
        return np.asarray(self.columns_, dtype=object)


class DateParts(TransformerMixin, BaseEstimator):
    """Turn datetime columns into numbers models can split on: calendar parts and a trend.

    Parts that never vary in the training data (e.g. hour of a date-only column) are left
    out, so a date column adds no constant features.
    """

    PARTS = ("year", "month", "day", "day_of_week", "day_of_year", "hour", "days")

    def fit(self, X: pd.DataFrame, y: Any = None) -> DateParts:
        frame = self._frame(X)
        self.columns_ = list(frame.columns)
        self.parts_ = {c: [p for p in self.PARTS if self._part(frame[c], p).nunique() > 1] for c in self.columns_}
        self.n_features_in_ = len(self.columns_)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "parts_")
        frame = self._frame(X)
        cols = [self._part(frame[c], p).to_numpy(dtype="float64", na_value=np.nan) for c in self.columns_ for p in self.parts_[c]]
        if not cols:
            return np.zeros((len(frame), 0))
        return np.column_stack(cols)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "parts_")
        return np.asarray([f"{c}__{p}" for c in self.columns_ for p in self.parts_[c]], dtype=object)

    @staticmethod
    def _frame(X: Any) -> pd.DataFrame:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        return frame.apply(_to_datetime)

    @staticmethod
    def _part(col: pd.Series, part: str) -> pd.Series:
        if part == "days":
            return (col - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
        return getattr(col.dt, part).astype("float64")


class OutlierClipper(TransformerMixin, BaseEstimator):
    """Limit extreme values so that a few outliers do not dominate linear and neural models.

    `clip_iqr` clips to [Q1 - k*IQR, Q3 + k*IQR], `clip_quantile` to the given quantiles,
    `log1p` applies a signed log; bounds are learnt from the training fold only.
    """

    def __init__(self, method: str = "clip_iqr", factor: float = 3.0, quantiles: tuple[float, float] = (0.005, 0.995)) -> None:
        self.method = method
        self.factor = factor
        self.quantiles = quantiles

    def fit(self, X: Any, y: Any = None) -> OutlierClipper:
        values = np.asarray(X, dtype="float64")
        if self.method not in ("clip_iqr", "clip_quantile", "log1p"):
            raise ValueError(f"unknown outlier method {self.method!r}")
        if self.method == "clip_quantile":
            lo, hi = np.nanquantile(values, self.quantiles, axis=0) if len(values) else (0.0, 0.0)
        else:
            q1, q3 = np.nanquantile(values, [0.25, 0.75], axis=0) if len(values) else (0.0, 0.0)
            lo, hi = q1 - self.factor * (q3 - q1), q3 + self.factor * (q3 - q1)
        self.lower_ = np.atleast_1d(np.asarray(lo, dtype="float64"))
        self.upper_ = np.atleast_1d(np.asarray(hi, dtype="float64"))
        self.n_features_in_ = values.shape[1] if values.ndim == 2 else 1
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "lower_")
        values = np.asarray(X, dtype="float64")
        if self.method == "log1p":
            return np.sign(values) * np.log1p(np.abs(values))
        return np.clip(values, self.lower_, self.upper_)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features if input_features is not None else [], dtype=object)


class TextEmbedder(TransformerMixin, BaseEstimator):
    """TF-IDF of a free-text column reduced by truncated SVD to a few dense components.

    Dense output keeps every model family (and the feature pruner) on one matrix type; a few
    dozen components keep most of the signal of short business texts at a small cost.
    """

    def __init__(self, max_features: int = 5000, n_components: int = 20) -> None:
        self.max_features = max_features
        self.n_components = n_components

    def fit(self, X: Any, y: Any = None) -> TextEmbedder:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        text = self._text(X)
        self.vectorizer_ = TfidfVectorizer(max_features=self.max_features, ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        try:
            matrix = self.vectorizer_.fit_transform(text)
        except ValueError:  # no term appears twice: fall back to every term once
            self.vectorizer_ = TfidfVectorizer(max_features=self.max_features, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
            matrix = self.vectorizer_.fit_transform(np.where(text == "", "empty", text))
        k = max(1, min(self.n_components, matrix.shape[1] - 1, matrix.shape[0] - 1))
        self.svd_ = TruncatedSVD(n_components=k, random_state=0).fit(matrix) if matrix.shape[1] > 1 else None
        self.n_features_in_ = 1
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "vectorizer_")
        matrix = self.vectorizer_.transform(self._text(X))
        return self.svd_.transform(matrix) if self.svd_ is not None else matrix.toarray()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "vectorizer_")
        k = self.svd_.n_components if self.svd_ is not None else 1
        name = str(input_features[0]) if input_features is not None and len(input_features) else "text"
        return np.asarray([f"{name}__svd{i}" for i in range(k)], dtype=object)

    @staticmethod
    def _text(X: Any) -> np.ndarray:
        values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(np.asarray(X).ravel())
        return values.astype("string").fillna("").to_numpy(dtype=object)


class FeaturePruner(TransformerMixin, BaseEstimator):
    """Drop redundant model inputs learnt from the training fold: constants, near-duplicates
    (|correlation| >= `corr_threshold`) and, with `importance`, features a quick gradient
    boosting model never uses. Fewer inputs make every later trial faster and can help
    models that suffer from collinear or noisy columns; CV decides whether it is used.
    """

    def __init__(self, corr_threshold: float | None = 0.98, importance: bool = True, task: str = "binary", random_state: int = 0) -> None:
        self.corr_threshold = corr_threshold
        self.importance = importance
        self.task = task
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> FeaturePruner:
        values = np.asarray(X, dtype="float64")
        keep = np.nanstd(values, axis=0) > 0 if len(values) > 1 else np.ones(values.shape[1], bool)
        keep &= ~np.all(np.isnan(values), axis=0)
        if self.corr_threshold is not None:
            keep &= self._decorrelated(values, keep)
        if self.importance and y is not None and keep.sum() > 1:
            keep &= self._used(values, np.asarray(y), keep)
        if not keep.any():
            keep[:] = True
        self.keep_ = keep
        self.n_features_in_ = values.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "keep_")
        return np.asarray(X, dtype="float64")[:, self.keep_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "keep_")
        names = np.asarray(input_features if input_features is not None else [f"x{i}" for i in range(len(self.keep_))], dtype=object)
        return names[self.keep_]

    def _decorrelated(self, values: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Keep the first of every group of columns that move together."""
        out = keep.copy()
        idx = np.flatnonzero(keep)
        sample = values[: min(len(values), 20000)][:, idx]
        filled = np.where(np.isnan(sample), np.nanmean(sample, axis=0), sample)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.abs(np.corrcoef(filled, rowvar=False)) if len(idx) > 1 else np.ones((1, 1))
        corr = np.nan_to_num(np.atleast_2d(corr))
        for a in range(len(idx)):
            if out[idx[a]] and np.any(corr[a, a + 1 :] >= self.corr_threshold):
                for b in np.flatnonzero(corr[a, a + 1 :] >= self.corr_threshold) + a + 1:
                    out[idx[b]] = False
        return out

    def _used(self, values: np.ndarray, y: np.ndarray, keep: np.ndarray) -> np.ndarray:
        import lightgbm as lgb

        params: dict[str, Any] = {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 15, "verbose": -1, "n_jobs": 1, "subsample": 0.8, "subsample_freq": 1, "random_state": self.random_state}
        model = lgb.LGBMRegressor(**params) if self.task == "regression" else lgb.LGBMClassifier(**params)
        model.fit(values[:, keep], y)
        gain = model.booster_.feature_importance(importance_type="gain")
        out = keep.copy()
        out[np.flatnonzero(keep)] = gain > 0
        return out


class HingeBasis(TransformerMixin, BaseEstimator):
    """A linear-spline basis: max(0, x - knot) for knots at quantiles of each training column.

    Beside the column itself this lets a linear model bend at each knot (churn risk that falls
    steeply over the first months of tenure, then flattens) and stays linear beyond the data,
    so new extremes do not explode. Written here rather than with sklearn's SplineTransformer
    because that one stores scipy functions that skops cannot load without trusting them;
    this one stores only arrays of knots.
    """

    def __init__(self, n_knots: int = 5, knots: tuple[float, ...] = ()) -> None:
        self.n_knots = n_knots
        # Fixed knots for every column (e.g. 30, 90, 180, 365 days of a duration), else quantiles.
        # Fixed knots give max(0, knot - x), not max(0, x - knot): the same span, but where most
        # rows lie far beyond the knots (long tenures) an early bend is then one small column
        # of new entities, not the difference of two large, nearly equal ones that L2 shrinks.
        self.knots = knots

    def fit(self, X: Any, y: Any = None) -> HingeBasis:
        values = np.asarray(X, dtype="float64")
        levels = np.arange(1, self.n_knots + 1) / (self.n_knots + 1)
        if self.knots:  # a knot outside a column's range adds only zeros or a copy of the column
            fixed = np.asarray(sorted(self.knots), dtype="float64")
            self.knots_ = [fixed[(fixed > np.nanmin(col)) & (fixed < np.nanmax(col))] if np.isfinite(col).any() else np.zeros(0) for col in values.T]
        else:
            self.knots_ = [np.unique(np.nanquantile(col, levels)) if np.isfinite(col).any() else np.zeros(0) for col in values.T]
        self.n_features_in_ = values.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "knots_")
        values = np.asarray(X, dtype="float64")
        sign = -1.0 if self.knots else 1.0  # fixed knots: days short of each, max(0, knot - x), see __init__
        parts = [np.maximum(0.0, sign * (values[:, [i]] - knots[None, :])) for i, knots in enumerate(self.knots_) if len(knots)]
        return np.hstack(parts) if parts else np.zeros((len(values), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "knots_")
        names = input_features if input_features is not None else [f"x{i}" for i in range(len(self.knots_))]
        return np.asarray([f"{n}__hinge{j}" for n, knots in zip(names, self.knots_, strict=True) for j in range(len(knots))], dtype=object)
