"""Data quality of new rows against the input contract of the training data.

The contract is the train stage's; this module codes against a minimal protocol, one entry
per input column:

    {column: {"type": "numeric" | "categorical" | "boolean" | "datetime",
              "categories": [...] | None,   # every training category (None: not checked)
              "min": float | None, "max": float | None,   # training range of numeric columns
              "missing_share": float}}      # training share of missing values

Checks: schema (contract columns missing from the data, extra columns, columns whose values
no longer parse as their type), new categories, missing-share jumps and out-of-range values,
each as a share of rows. A share is an issue only when it passes its threshold AND a
one-sided binomial test says it exceeds what an unchanged source would give (the training
missing share; `BACKGROUND_RATE` for values out of range or unseen, which an i.i.d. batch
shows at about 2/(training rows) per column): 2 odd rows in a batch of 50 are not a trend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats

from kpiml.monitoring.reference import (
    MISSING,
    NumericReference,
    Reference,
    category_text,
    column_kind,
    numeric_values,
)
from kpiml.monitoring.thresholds import Level, Thresholds, level_for

BACKGROUND_RATE = 0.001
RETYPED_SHARE = 0.5
Contract = Mapping[str, Mapping[str, Any]]


class ColumnQuality(BaseModel):
    """Quality figures of one contract column in the new rows."""

    column: str
    type: str
    missing_share: float
    reference_missing_share: float | None = Field(description="None when the contract does not know it.")
    unparseable_share: float = 0.0
    new_category_share: float = 0.0
    new_categories: list[str] = Field(default_factory=list, description="Up to 10, most frequent first.")
    out_of_range_share: float = 0.0


class QualityIssue(BaseModel):
    """One finding; level ok means information only (e.g. an extra column)."""

    column: str
    check: str = Field(description="missing_column, extra_column, retyped, new_categories, missing_jump or out_of_range")
    value: float | None = None
    level: Level
    message: str


class QualityReport(BaseModel):
    rows: int
    columns: list[ColumnQuality]
    issues: list[QualityIssue]


def infer_contract(X: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """A contract in the protocol above from training rows (a fallback and a test helper)."""
    out: dict[str, dict[str, Any]] = {}
    for name in X.columns:
        s = X[name]
        kind = column_kind(s)
        entry: dict[str, Any] = {"type": kind, "categories": None, "min": None, "max": None, "missing_share": float(s.isna().mean()) if len(s) else 0.0}
        if kind == "numeric":
            x = numeric_values(s)
            entry["min"], entry["max"] = (float(np.nanmin(x)), float(np.nanmax(x))) if np.isfinite(x).any() else (None, None)
        elif kind in ("categorical", "boolean"):
            entry["categories"] = sorted(category_text(s).dropna().unique().tolist())
        out[str(name)] = entry
    return out


def _known_share(spec: Mapping[str, Any]) -> float | None:
    share = spec.get("missing_share")
    return None if share is None else float(share)


def contract_from_bundle(contract: Mapping[str, Any], reference: Reference | None = None) -> dict[str, dict[str, Any]]:
    """This module's protocol from the bundle's contract.json (`features`: name, kind, min, max,
    categories, categories_complete, missing_in_training). The bundle records only whether a
    column had missing values, so the training missing share comes from the reference when
    given; otherwise it is 0 for columns that had none and unknown (not checked) for the rest.
    Free-text columns are left out; date ranges (ISO text) are not checked."""
    out: dict[str, dict[str, Any]] = {}
    for f in contract.get("features", []):
        name, kind = str(f["name"]), str(f.get("kind", "categorical"))
        if kind == "text":
            continue
        numeric = kind == "numeric"
        share = reference_missing_share(reference, name) if reference is not None else None
        if share is None and not f.get("missing_in_training", True):
            share = 0.0
        out[name] = {"type": kind, "categories": f.get("categories") if f.get("categories_complete") else None,
                     "min": f.get("min") if numeric else None, "max": f.get("max") if numeric else None, "missing_share": share}
    return out


def reference_missing_share(reference: Reference, column: str) -> float | None:
    """Training missing share of a column from the drift reference (None if not referenced)."""
    ref = reference.columns.get(column)
    if isinstance(ref, NumericReference):
        return ref.missing_share
    return None if ref is None else float(ref.shares.get(MISSING, 0.0))


def exceeds(count: int, rows: int, base: float, alpha: float) -> bool:
    """One-sided binomial test: is `count` of `rows` more than a rate `base` would give?"""
    if rows == 0 or count == 0:
        return False
    return float(stats.binom.sf(count - 1, rows, min(max(base, 0.0), 1.0))) < alpha


def _share_level(count: int, rows: int, base: float, watch: float, retrain: float, alpha: float) -> Level:
    share = count / rows if rows else 0.0
    return level_for(share - base, watch, retrain) if exceeds(count, rows, base, alpha) else "ok"


def _numeric_quality(s: pd.Series, spec: Mapping[str, Any]) -> tuple[ColumnQuality, int, int]:
    x = numeric_values(s)
    bad = int((s.notna().to_numpy() & np.isnan(x)).sum())
    lo, hi = spec.get("min"), spec.get("max")
    present = x[~np.isnan(x)]
    out = int(((present < lo).sum() if lo is not None else 0) + ((present > hi).sum() if hi is not None else 0))
    n = max(len(s), 1)
    q = ColumnQuality(column=str(s.name), type="numeric", missing_share=float(np.isnan(x).sum() / n),
                      reference_missing_share=_known_share(spec), unparseable_share=bad / n,
                      out_of_range_share=out / max(present.size, 1))
    return q, out, int(present.size)


def _categorical_quality(s: pd.Series, spec: Mapping[str, Any], counts: pd.Series | None) -> tuple[ColumnQuality, int]:
    known = spec.get("categories")
    if counts is None:
        counts = category_text(s).value_counts(dropna=True)
    unseen = counts[~counts.index.isin([str(c) for c in known])] if known is not None else counts.iloc[:0]
    n = max(len(s), 1)
    q = ColumnQuality(column=str(s.name), type=str(spec.get("type", "categorical")), missing_share=float(s.isna().sum() / n),
                      reference_missing_share=_known_share(spec),
                      new_category_share=float(unseen.sum() / n), new_categories=[str(k) for k in unseen.index[:10]])
    return q, int(unseen.sum())


def _datetime_quality(s: pd.Series, spec: Mapping[str, Any]) -> ColumnQuality:
    parsed = s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s, errors="coerce", format="mixed")
    n = max(len(s), 1)
    return ColumnQuality(column=str(s.name), type="datetime", missing_share=float(parsed.isna().sum() / n),
                         reference_missing_share=_known_share(spec),
                         unparseable_share=float((s.notna() & parsed.isna()).sum() / n))


def _issues(q: ColumnQuality, rows: int, counts: dict[str, tuple[int, int]], t: Thresholds) -> list[QualityIssue]:
    """Turn one column's figures into issues with levels."""
    found: list[QualityIssue] = []
    if q.unparseable_share > RETYPED_SHARE * max(1.0 - q.missing_share + q.unparseable_share, 1e-9):
        found.append(QualityIssue(column=q.column, check="retyped", value=q.unparseable_share, level="retrain",
                                  message=f"{q.unparseable_share:.0%} of '{q.column}' no longer parse as {q.type}"))
        return found
    missing = round(q.missing_share * rows)
    base = q.reference_missing_share
    lvl = "ok" if base is None else _share_level(missing, rows, base, t.missing_jump_watch, t.missing_jump_retrain, t.quality_alpha)
    if lvl != "ok" and base is not None:
        found.append(QualityIssue(column=q.column, check="missing_jump", value=q.missing_share - base, level=lvl,
                                  message=f"'{q.column}' is missing in {q.missing_share:.1%} of rows (training {base:.1%})"))
    for check, (k, n), watch, retrain, share in (
        ("new_categories", counts.get("new", (0, rows)), t.new_category_watch, t.new_category_retrain, q.new_category_share),
        ("out_of_range", counts.get("range", (0, rows)), t.out_of_range_watch, t.out_of_range_retrain, q.out_of_range_share),
    ):
        lvl = _share_level(k, n, BACKGROUND_RATE, watch, retrain, t.quality_alpha)
        if lvl != "ok":
            what = f"categories unseen in training ({', '.join(q.new_categories[:3])})" if check == "new_categories" else "values outside the training range"
            found.append(QualityIssue(column=q.column, check=check, value=share, level=lvl, message=f"{share:.1%} of '{q.column}' are {what}"))
    return found


def check_quality(
    data: pd.DataFrame, contract: Contract, thresholds: Thresholds | None = None, value_counts: Mapping[str, pd.Series] | None = None
) -> QualityReport:
    """Schema, new categories, missing-share jumps and out-of-range values of `data`
    (`value_counts`: category counts per column the caller already computed)."""
    t = thresholds or Thresholds()
    rows = len(data)
    issues = [QualityIssue(column=c, check="missing_column", level="retrain", message=f"column '{c}' of the input contract is absent")
              for c in contract if c not in data.columns]
    issues += [QualityIssue(column=str(c), check="extra_column", level="ok", message=f"column '{c}' is not in the input contract (ignored)")
               for c in data.columns if c not in contract]
    columns: list[ColumnQuality] = []
    for name, spec in contract.items():
        if name not in data.columns:
            continue
        kind = str(spec.get("type", "categorical"))
        if kind == "text":
            continue
        counts: dict[str, tuple[int, int]] = {}
        if kind == "numeric":
            q, out, present = _numeric_quality(data[name], spec)
            counts["range"] = (out, present)
        elif kind == "datetime":
            q = _datetime_quality(data[name], spec)
        else:
            q, new = _categorical_quality(data[name], spec, (value_counts or {}).get(name))
            counts["new"] = (new, rows)
        columns.append(q)
        issues += _issues(q, rows, counts, t)
    return QualityReport(rows=rows, columns=columns, issues=issues)
