"""Results per segment of the main categorical columns: does the model hold up everywhere?

A model whose AUC is 0.85 overall can be 0.6 for one contract type or region; the KPI figures
are only as good as the weakest segment the campaign relies on. "Main" columns are the
categorical features the importance ranks highest, with 2 to 12 levels in the evidence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MAX_COLUMNS = 4
MAX_LEVELS = 12
MIN_ROWS = 20  # a level with fewer rows is shown without an AUC (too noisy to read)


def segment_columns(frame: pd.DataFrame, categorical: list[str], ranked: list[str]) -> list[str]:
    """Up to four categorical columns with 2..12 levels, most important first."""
    order = [c for c in ranked if c in categorical] + [c for c in categorical if c not in ranked]
    return [c for c in order if c in frame.columns and 2 <= frame[c].nunique() <= MAX_LEVELS][:MAX_COLUMNS]


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    # sklearn's AUC (tests/reporting/test_stats.py checks they are equal) without its per-call input checks
    from kpiml.reporting.stats import rank_auc

    if len(y) < MIN_ROWS or len(np.unique(y)) < 2:
        return None
    return rank_auc(np.asarray(y), np.asarray(p))


def binary_segments(frame: pd.DataFrame, column: str, y: np.ndarray, p: np.ndarray, act: np.ndarray, profit: np.ndarray | None) -> list[dict[str, Any]]:
    """Per level: rows, positive rate, AUC, share acted on and profit of the decisions."""
    key = frame[column].astype("string").fillna("(missing)").to_numpy()
    out = []
    for level in pd.Series(key).value_counts().index:
        m = key == level
        out.append({"level": level, "rows": int(m.sum()), "positive_rate": float(y[m].mean()), "auc": _auc(y[m], p[m]),
                    "acted": float(act[m].mean()), "profit": None if profit is None else float(profit[m].sum())})
    return out


def regression_segments(frame: pd.DataFrame, column: str, y: np.ndarray, pred: np.ndarray) -> list[dict[str, Any]]:
    """Per level: rows, mean actual, MAE and bias (mean prediction minus mean actual)."""
    key = frame[column].astype("string").fillna("(missing)").to_numpy()
    out = []
    for level in pd.Series(key).value_counts().index:
        m = key == level
        out.append({"level": level, "rows": int(m.sum()), "mean_actual": float(y[m].mean()),
                    "mae": float(np.abs(pred[m] - y[m]).mean()), "bias": float((pred[m] - y[m]).mean())})
    return out


def multiclass_segments(frame: pd.DataFrame, column: str, y: np.ndarray, pred: np.ndarray) -> list[dict[str, Any]]:
    """Per level: rows and accuracy of the most probable class."""
    key = frame[column].astype("string").fillna("(missing)").to_numpy()
    hit = pred.argmax(axis=1) == y
    return [{"level": level, "rows": int((key == level).sum()), "accuracy": float(hit[key == level].mean())}
            for level in pd.Series(key).value_counts().index]
