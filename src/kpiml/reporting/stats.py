"""Metrics of the report's evidence with percentile bootstrap intervals (`kpiml.kpi.bootstrap`).

Point estimates come from the registry training used (`kpiml.evaluation.metrics`), so a figure
here is the one metrics.json holds for the same rows. The intervals must be cheap enough for
a report that costs a small share of the training budget, so:

* metrics that are a mean of per-row terms (Brier, log loss, accuracy, MAE, and RMSE as the
  root of one) are resampled as means, all resamples at once (`bootstrap_mean_ci`);
* ROC AUC and average precision are resampled with their formulas written out (the
  Mann-Whitney rank statistic with ties counted half; precision at each distinct score
  weighted by the recall step), equal to sklearn's, because sklearn's input validation costs
  ten times the computation on a thousand-row resample;
* the rest call the registry's function on each resample.

Resamples are stratified by the label for classifiers (every resample has both classes and
the evidence's base rate).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kpiml.errors import KpimlError

NAMES = {
    "binary": ("roc_auc", "pr_auc", "brier", "log_loss", "lift_at_10"),
    "multiclass": ("accuracy", "balanced_accuracy", "f1", "log_loss"),
    "regression": ("rmse", "mae", "r2", "value_captured_at_20"),
}
LABELS = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC (average precision)", "brier": "Brier score", "log_loss": "log loss",
          "lift_at_10": "lift in the top 10 %", "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "f1": "macro F1",
          "rmse": "RMSE", "mae": "MAE", "r2": "R²", "value_captured_at_20": "value captured in the top 20 %",
          "precision_at_point": "precision of the decisions", "recall_at_point": "recall of the decisions"}


def _proba(pred: np.ndarray) -> np.ndarray:
    return pred if pred.ndim == 2 else np.column_stack([1 - pred, pred])


def _row_terms(name: str, y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, Callable[[float], float]] | None:
    """Per-row terms whose mean (then `transform`) is the metric, for the metrics that have them."""
    same: Callable[[float], float] = float
    if name in ("brier", "log_loss", "accuracy"):
        p = np.clip(_proba(pred), 1e-15, 1 - 1e-15)
        onehot = np.eye(p.shape[1])[y.astype(int)]
        if name == "log_loss":
            return -np.log((p / p.sum(axis=1, keepdims=True) * onehot).sum(axis=1)), same
        if name == "accuracy":
            return (p.argmax(axis=1) == y).astype(float), same
        return ((p - onehot) ** 2).sum(axis=1) / (2 if p.shape[1] == 2 else 1), same
    if name == "mae":
        return np.abs(y - pred), same
    if name == "rmse":
        return (y - pred) ** 2, lambda v: float(np.sqrt(v))
    return None


def rank_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney U statistic with mid-ranks (what sklearn's AUC equals)."""
    from scipy.stats import rankdata

    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((rankdata(score)[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision as sklearn computes it (precision at each distinct score, weighted by the recall step)."""
    order = np.argsort(-score, kind="stable")
    ranked, hits = score[order], np.cumsum(y[order])
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # last row of each run of tied scores
    tp = hits[last]
    if tp[-1] == 0:
        return float("nan")
    precision, recall = tp / (last + 1), tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _resampled(name: str, problem: str, y: np.ndarray, pred: np.ndarray) -> tuple[Callable[[np.ndarray], float], bool]:
    """The metric of the rows at positions `i`, and whether higher is better."""
    from kpiml.evaluation.metrics import get_scorer

    scorer = get_scorer(name, problem)
    if name == "roc_auc" and problem == "binary":
        return (lambda i: rank_auc(y[i], pred[i, 1] if pred.ndim == 2 else pred[i])), True
    if name == "pr_auc":
        return (lambda i: average_precision(y[i], pred[i, 1] if pred.ndim == 2 else pred[i])), True
    return (lambda i: scorer.score(y[i], pred[i])), scorer.greater_is_better


def _row(name: str, estimate: float, low: float, high: float, higher: bool) -> dict[str, Any]:
    return {"key": name, "name": LABELS.get(name, name), "estimate": estimate, "low": low, "high": high, "better": "higher" if higher else "lower"}


def metric_table(problem: str, y: np.ndarray, pred: np.ndarray, n_boot: int, act: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Rows (key, name, estimate, low, high, better) for the problem's metrics on these rows."""
    from kpiml.evaluation.metrics import get_scorer
    from kpiml.kpi import bootstrap_ci, bootstrap_mean_ci

    strata = y if problem != "regression" else None
    index = np.arange(len(y))
    rows = []
    for name in NAMES[problem]:
        scorer = get_scorer(name, problem)
        estimate = scorer.score(y, pred)
        terms = _row_terms(name, y, pred)
        try:
            if terms is not None:
                ci = bootstrap_mean_ci(terms[0], n_boot=n_boot, seed=0, stratify=strata)
                rows.append(_row(name, estimate, terms[1](ci.low), terms[1](ci.high), scorer.greater_is_better))
                continue
            func, higher = _resampled(name, problem, y, pred)
            ci = bootstrap_ci(func, index, n_boot=n_boot, seed=0, stratify=strata)
        except (KpimlError, ValueError):
            continue
        rows.append(_row(name, estimate, ci.low, ci.high, higher))
    if act is not None:
        for name, flags, among in (("precision_at_point", y, act == 1), ("recall_at_point", act, y == 1)):
            if among.any():
                ci = bootstrap_mean_ci(np.asarray(flags[among], dtype=float), n_boot=n_boot, seed=0)
                rows.append(_row(name, ci.estimate, ci.low, ci.high, True))
    return rows
