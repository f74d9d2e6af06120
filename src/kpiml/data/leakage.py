"""Find columns that leak the target: too predictive alone, a function of it, or dated after it.

A leaked column makes a model look brilliant in validation and useless in production, and
no later stage can notice it, so the plan must. Each suspect comes with its evidence (a
single-column AUC, an eta-squared, the share of dates after the reference date) measured
out-of-fold, so that an identifier-like category cannot fit the target by memorising it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpiml.spec import ColumnRole, ProblemType

SAMPLE_ROWS = 50_000
ALONE_AUC = 0.95
FUNCTION_ETA2 = 0.90
REGRESSION_RHO = 0.98
OUTCOME_DATE_NAME = re.compile(r"churn|cancel|close|terminat|end_?date|exit|default|resolv|outcome|left|leav|lost|stop", re.I)


@dataclass
class Suspect:
    column: str
    kind: str  # predicts_alone | function_of_target | after_outcome
    score: float
    evidence: str


def _auc(y: np.ndarray, x: np.ndarray) -> float:
    """Rank AUC folded to >= 0.5: how well the column alone separates the classes, either way."""
    from scipy.stats import rankdata

    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return 0.5
    ranks = rankdata(x)
    auc = (ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return float(max(auc, 1 - auc))


def _eta_squared(x: np.ndarray, groups: np.ndarray) -> float:
    """Correlation ratio: share of the column's variance explained by the target's groups."""
    total = np.var(x)
    if total == 0:
        return 0.0
    frame = pd.DataFrame({"x": x, "g": groups})
    stats = frame.groupby("g")["x"].agg(["mean", "size"])
    between = float((stats["size"] * (stats["mean"] - x.mean()) ** 2).sum() / len(x))
    return between / float(total)


def _oof_encode(codes: pd.Series, y: np.ndarray, folds: int = 5) -> np.ndarray:
    """Out-of-fold target mean per category, so a unique category cannot leak its own label."""
    fold = np.random.default_rng(0).integers(0, folds, len(codes))
    cat, _ = pd.factorize(codes, use_na_sentinel=False)
    k = int(cat.max()) + 1 if len(cat) else 0
    sums, counts = np.bincount(cat, y, k), np.bincount(cat, None, k)
    out = np.empty(len(codes))
    prior = float(np.mean(y))
    for f in range(folds):
        rows = fold == f
        s_in, n_in = np.bincount(cat[rows], y[rows], k), np.bincount(cat[rows], None, k)
        n_out = counts - n_in
        means = np.divide(sums - s_in, n_out, out=np.full(k, prior), where=n_out > 0)
        out[rows] = means[cat[rows]]
    return out


def _as_signal(col: pd.Series, y: np.ndarray, role: ColumnRole) -> np.ndarray:
    if role in ("numeric", "datetime") and (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_datetime64_any_dtype(col)):
        values = col.astype("int64") if pd.api.types.is_datetime64_any_dtype(col) else col
        arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if pd.api.types.is_datetime64_any_dtype(col):
            arr[col.isna().to_numpy()] = np.nan
        fill = np.nanmedian(arr) if np.isfinite(arr).any() else 0.0
        return np.where(np.isfinite(arr), arr, fill)
    return _oof_encode(col.astype("string").fillna("<missing>"), y.astype("float64"))


def _strength(x: np.ndarray, y: np.ndarray, problem: ProblemType) -> tuple[str, float, str] | None:
    if problem == "binary":
        auc = _auc(y, x)
        if auc >= ALONE_AUC:
            return "predicts_alone", auc, f"alone it separates the classes with AUC {auc:.3f}"
        eta = _eta_squared(x, y)
        if eta >= FUNCTION_ETA2:
            return "function_of_target", eta, f"the target's classes explain {eta:.0%} of its variance"
        return None
    if problem == "regression":
        from scipy.stats import spearmanr

        rho = float(abs(spearmanr(x, y).statistic)) if np.std(x) > 0 else 0.0
        bins = pd.qcut(pd.Series(y), 20, labels=False, duplicates="drop").to_numpy()
        eta = _eta_squared(x, bins)
        if rho >= REGRESSION_RHO:
            return "predicts_alone", rho, f"its rank correlation with the target is {rho:.3f}"
        if eta >= FUNCTION_ETA2:
            return "function_of_target", eta, f"the target explains {eta:.0%} of its variance (near-deterministic function)"
        return None
    eta = _eta_squared(x, y)
    if eta >= FUNCTION_ETA2:
        return "function_of_target", eta, f"the target's classes explain {eta:.0%} of its variance"
    return None


def _date_evidence(name: str, col: pd.Series, y: np.ndarray, problem: ProblemType, reference: pd.Timestamp | None) -> Suspect | None:
    """Dates written after the outcome: filled only for one outcome, later than the data's as-of date, or named so."""
    missing = col.isna().to_numpy()
    if problem == "binary" and 0.005 < missing.mean() < 0.995:
        auc = _auc(y, missing.astype("float64"))
        if auc >= 0.9:
            rate_pos, rate_neg = 1 - missing[y == 1].mean(), 1 - missing[y == 0].mean()
            return Suspect(name, "after_outcome", auc, f"it is filled for {rate_pos:.0%} of positive rows and {rate_neg:.0%} of the others, as a date recorded when the outcome happens would be")
    if reference is not None:
        later = float((col > reference).mean())
        if later >= 0.05:
            return Suspect(name, "after_outcome", later, f"{later:.0%} of its dates fall after {reference.date()}, the latest date of the other date columns: recorded after the observation period")
    if problem == "binary" and OUTCOME_DATE_NAME.search(name):
        auc = _auc(y, _as_signal(col, y, "datetime"))
        if auc >= 0.7:
            return Suspect(name, "after_outcome", auc, f"its name suggests an outcome date and it separates the classes with AUC {auc:.3f}")
    return None


def _reference_date(df: pd.DataFrame, roles: dict[str, ColumnRole], exclude: str) -> pd.Timestamp | None:
    """The data's as-of date: the latest 99th-percentile date of the other date columns."""
    tops = [df[c].quantile(0.99) for c, r in roles.items() if r == "datetime" and c != exclude and df[c].notna().any()]
    tops = [t for t in tops if not pd.isna(t)]
    return max(tops) if tops else None


def find_leakage(df: pd.DataFrame, y: np.ndarray, problem: ProblemType, roles: dict[str, ColumnRole]) -> list[Suspect]:
    """Test every candidate feature column on (a sample of) the labelled rows."""
    if len(df) > SAMPLE_ROWS:
        idx = np.random.default_rng(0).choice(len(df), SAMPLE_ROWS, replace=False)
        df, y = df.iloc[idx], y[idx]
    suspects: list[Suspect] = []
    for name, role in roles.items():
        if role not in ("numeric", "categorical", "boolean", "datetime"):
            continue
        col = df[name]
        if role == "datetime":
            found = _date_evidence(name, col, y, problem, _reference_date(df, roles, name))
            if found:
                suspects.append(found)
                continue
        hit = _strength(_as_signal(col, y, role), y, problem)
        if hit:
            suspects.append(Suspect(name, hit[0], round(hit[1], 4), hit[2]))
    return suspects
