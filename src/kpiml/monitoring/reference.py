"""The training reference that monitoring compares new data with, small enough for the bundle.

Built once at training time from the training rows (and the model's scores on them) and
stored as JSON in the model bundle, so `kpiml monitor` never needs the training data again.

* Numeric columns keep the decile bin edges of the training values (inner edges; the outer
  bins run to -inf and +inf, missing values are a bin of their own) with the training share
  of each bin, for PSI; and a quantile sketch: the values at `SKETCH_POINTS` evenly spaced
  quantiles (midpoint probabilities, actual data values). Its empirical CDF matches the
  training column's within 1/SKETCH_POINTS everywhere, so the KS distance to new data is
  the distance to the whole training column within that resolution, for a few KB. A random
  5,000-value sample would cost ~90 KB of JSON per column (4.5 MB for 50 columns) and would
  match the training CDF only within ~1/sqrt(5,000) = 0.014.
* Categorical (and boolean) columns keep the share of each category; categories rarer than
  `RARE_SHARE` (or beyond the `MAX_CATEGORIES` most frequent) are pooled as `__other__`,
  missing values are `__missing__`.
* The model's scores on the training rows get the numeric treatment, for prediction drift.

Datetime columns are left out: their values move forward by construction, so drift on them
is no signal (the features derived from them are what the model sees). Free-text columns
are left out too: nearly every value is unique, so category shares say nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from kpiml.errors import KpimlError

REFERENCE_VERSION = 1
N_BINS = 10
SKETCH_POINTS = 500
RARE_SHARE = 0.005
MAX_CATEGORIES = 50
OTHER = "__other__"
MISSING = "__missing__"
NEW = "__new__"
ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "text"]


class NumericReference(BaseModel):
    """Bins, shares and a quantile sketch of one numeric column of the training rows."""

    kind: Literal["numeric"] = "numeric"
    n: int = Field(description="Training rows, missing included.")
    missing_share: float
    edges: list[float] = Field(description="Inner bin edges; bin i holds edges[i-1] <= x < edges[i].")
    shares: list[float] = Field(description="Share of all training rows in each of len(edges)+1 bins.")
    sketch: list[float] = Field(description="Training values at evenly spaced quantiles (for KS).")
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None


class CategoricalReference(BaseModel):
    """Shares of the categories of one categorical column of the training rows."""

    kind: Literal["categorical"] = "categorical"
    n: int = Field(description="Training rows, missing included.")
    shares: dict[str, float] = Field(description="Category -> share, with __other__ and __missing__.")
    pooled: int = Field(default=0, description="Categories pooled into __other__.")


ColumnReference = Annotated[NumericReference | CategoricalReference, Field(discriminator="kind")]


class Reference(BaseModel):
    """Everything monitoring needs from the training data; JSON-serialisable for the bundle."""

    version: int = REFERENCE_VERSION
    rows: int
    columns: dict[str, ColumnReference]
    score: NumericReference | None = None
    skipped: list[str] = Field(default_factory=list, description="Columns without a drift reference (datetime, text).")
    metrics: dict[str, float] = Field(default_factory=dict, description="Hold-out metrics at training, for live quality.")


def _round(values: np.ndarray, digits: int = 6) -> list[float]:
    """Round to `digits` significant digits: enough for bins and a KS sketch, half the JSON."""
    out = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(out) & (out != 0)
    mags = np.zeros_like(out)
    mags[finite] = np.floor(np.log10(np.abs(out[finite])))
    scale = 10.0 ** (digits - 1 - mags)
    return [float(v) for v in np.where(finite, np.round(out * scale) / scale, out)]


def bin_index(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Bin of each non-missing value: 0..len(edges), values equal to an edge go up."""
    return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")


def numeric_reference(values: np.ndarray, n_bins: int = N_BINS, points: int = SKETCH_POINTS) -> NumericReference:
    """Decile bins with their shares, plus the quantile sketch, of one numeric column."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    present = x[~np.isnan(x)]
    if present.size == 0:
        return NumericReference(n=n, missing_share=1.0 if n else 0.0, edges=[], shares=[0.0], sketch=[])
    probs = np.arange(1, n_bins) / n_bins
    edges = np.unique(np.quantile(present, probs, method="inverted_cdf"))
    counts = np.bincount(bin_index(present, edges), minlength=len(edges) + 1)
    sketch = np.quantile(present, (np.arange(points) + 0.5) / points, method="inverted_cdf")
    return NumericReference(
        n=n, missing_share=1.0 - present.size / n, edges=[float(e) for e in edges],
        shares=[round(float(c) / n, 8) for c in counts], sketch=_round(sketch),
        mean=float(present.mean()), std=float(present.std(ddof=1)) if present.size > 1 else 0.0,
        min=float(present.min()), max=float(present.max()),
    )


def category_text(series: pd.Series) -> pd.Series:
    """Categories as text, so 1 and 1.0 (an int column with missing values) are one category."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype("string")
    if pd.api.types.is_numeric_dtype(series):
        x = series.astype("float64")
        present = x.dropna()
        if bool((present == np.floor(present)).all()) and present.abs().max(skipna=True) < 2**53:
            return x.astype("Int64").astype("string")
        return x.astype("string")
    return series.astype("string")


def categorical_reference(series: pd.Series, rare: float = RARE_SHARE, top: int = MAX_CATEGORIES) -> CategoricalReference:
    """Category shares of one column, rare categories pooled (they carry no stable share)."""
    n = len(series)
    counts = category_text(series).value_counts(dropna=True)
    shares = (counts / max(n, 1)).sort_values(ascending=False, kind="stable")
    kept = shares[(shares >= rare)].iloc[:top]
    out = {str(k): round(float(v), 8) for k, v in kept.items()}
    other = float(shares.sum() - kept.sum())
    if other > 0:
        out[OTHER] = round(other, 8)
    missing = float(series.isna().sum()) / max(n, 1)
    if missing > 0:
        out[MISSING] = round(missing, 8)
    return CategoricalReference(n=n, shares=out, pooled=int(len(shares) - len(kept)))


def column_kind(series: pd.Series, declared: Any = None) -> ColumnKind:
    """The kind the contract declares, else the one the dtype says."""
    if isinstance(declared, Mapping):
        declared = declared.get("type")
    if declared in ("numeric", "categorical", "boolean", "datetime", "text"):
        return declared  # type: ignore[no-any-return]
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    return "categorical"


def numeric_values(series: pd.Series) -> np.ndarray:
    """A column as a new float64 array with NaN for missing, unparseable or infinite values
    (an infinity has no bin or quantile worth comparing; it counts as missing)."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(x), x, np.nan)


def _columns(X: pd.DataFrame, contract_columns: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    """Column -> declared type (or None) from a contract mapping, a list of names, or X itself."""
    if contract_columns is None:
        return {c: None for c in X.columns}
    declared = dict(contract_columns) if isinstance(contract_columns, Mapping) else dict.fromkeys(contract_columns)
    absent = [c for c in declared if c not in X.columns]
    if absent:
        raise KpimlError(
            "The training frame lacks columns the contract names",
            expected=f"columns {', '.join(map(str, declared))}",
            got=f"missing {', '.join(map(str, absent))}",
            fix="build the reference from the same frame the model was trained on",
        )
    return declared


def build_reference(
    X: pd.DataFrame, scores: np.ndarray | None, contract_columns: Mapping[str, Any] | Sequence[str] | None = None
) -> Reference:
    """The monitoring reference of the training rows `X` and the model's `scores` on them.

    `contract_columns` is the input contract (column -> {"type": ...}), a list of feature
    names (kinds inferred from dtypes), or None for every column of `X`.
    """
    columns: dict[str, NumericReference | CategoricalReference] = {}
    skipped: list[str] = []
    for name, declared in _columns(X, contract_columns).items():
        kind = column_kind(X[name], declared)
        if kind in ("datetime", "text"):
            skipped.append(str(name))
        elif kind == "numeric":
            columns[str(name)] = numeric_reference(numeric_values(X[name]))
        else:
            columns[str(name)] = categorical_reference(X[name])
    score = None if scores is None else numeric_reference(np.asarray(scores, dtype=np.float64))
    return Reference(rows=len(X), columns=columns, score=score, skipped=skipped)
