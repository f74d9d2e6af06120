"""Multiclass sections: the confusion matrix and per-class precision and recall."""

from __future__ import annotations

from typing import Any

import numpy as np

from kpiml.reporting import charts
from kpiml.reporting.evidence import Evidence

MAX_CLASSES = 12  # beyond this a matrix is unreadable; the per-class table still lists all


def per_class(evidence: Evidence, classes: list[str]) -> list[dict[str, Any]]:
    """Rows, precision, recall and one-vs-rest AUC of each class."""
    from sklearn.metrics import roc_auc_score

    y, pred = evidence.y.astype(int), evidence.pred
    guess = pred.argmax(axis=1)
    out = []
    for k, name in enumerate(classes):
        actual, chosen = y == k, guess == k
        auc = float(roc_auc_score(actual, pred[:, k])) if 0 < actual.sum() < len(y) else None
        out.append({"class": name, "rows": int(actual.sum()), "precision": float(actual[chosen].mean()) if chosen.any() else None,
                    "recall": float(chosen[actual].mean()) if actual.any() else None, "auc": auc})
    return out


def confusion_svg(evidence: Evidence, classes: list[str]) -> str:
    """Actual class against the most probable class (the most frequent classes when there are many)."""
    y, guess = evidence.y.astype(int), evidence.pred.argmax(axis=1)
    keep = list(np.argsort(-np.bincount(y, minlength=len(classes)), kind="stable")[:MAX_CLASSES])
    m = np.array([[np.sum((y == a) & (guess == b)) for b in keep] for a in keep])
    names = [classes[k] for k in keep]
    return charts.heatmap(m, names, names, xlabel="predicted class", ylabel="actual class", title="Confusion matrix")
