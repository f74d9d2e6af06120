"""Metrics as pluggable scorers on out-of-fold predictions.

Every search, blend and calibration decision calls a `Scorer` on (labels, predictions), where
predictions are a probability matrix (rows x classes) for classifiers and a vector for
regression. A profit scorer (the KPI value model) is therefore one more entry in the
registry, not a change to the search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kpiml.errors import KpimlError

MetricFunc = Callable[[np.ndarray, np.ndarray], float]
RowMetricFunc = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Scorer:
    """A named metric with its direction; `objective` is always 'higher is better'.

    A metric that needs more of each row than its label (a profit with per-row values such as
    the customer lifetime value) sets `row_func(y, pred, rows)` instead of `func`: callers
    then pass `rows`, the positions of the scored rows among the rows the scorer was built for
    (the training part), so the metric can line its own per-row data up with them.
    """

    name: str
    greater_is_better: bool
    func: MetricFunc | None
    problems: tuple[str, ...]
    row_func: RowMetricFunc | None = None

    def score(self, y: np.ndarray, pred: np.ndarray, rows: np.ndarray | None = None) -> float:
        if self.row_func is not None:
            if rows is None:
                raise ValueError(f"scorer {self.name} needs the positions of the scored rows")
            return float(self.row_func(np.asarray(y), np.asarray(pred), np.asarray(rows)))
        assert self.func is not None
        return float(self.func(np.asarray(y), np.asarray(pred)))

    def objective(self, y: np.ndarray, pred: np.ndarray, rows: np.ndarray | None = None) -> float:
        value = self.score(y, pred, rows)
        return value if self.greater_is_better else -value


def _positive(pred: np.ndarray) -> np.ndarray:
    return pred[:, 1] if pred.ndim == 2 else pred


def _clip(pred: np.ndarray) -> np.ndarray:
    p = np.clip(pred, 1e-15, 1 - 1e-15)
    return p / p.sum(axis=1, keepdims=True) if p.ndim == 2 else p


def _roc_auc(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return float("nan")
    if pred.ndim == 2 and pred.shape[1] > 2:
        return roc_auc_score(y, _clip(pred), multi_class="ovr", average="macro", labels=np.arange(pred.shape[1]))
    return roc_auc_score(y, _positive(pred))


def _pr_auc(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return average_precision_score(y, _positive(pred))


def _log_loss(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    p = _clip(pred if pred.ndim == 2 else np.column_stack([1 - pred, pred]))
    return log_loss(y, p, labels=np.arange(p.shape[1]))


def _brier(y: np.ndarray, pred: np.ndarray) -> float:
    p = pred if pred.ndim == 2 else np.column_stack([1 - pred, pred])
    onehot = np.eye(p.shape[1])[y.astype(int)]
    per_row = ((p - onehot) ** 2).sum(axis=1)
    return float(per_row.mean() / 2) if p.shape[1] == 2 else float(per_row.mean())


def _labels(pred: np.ndarray) -> np.ndarray:
    return pred.argmax(axis=1) if pred.ndim == 2 else (pred >= 0.5).astype(int)


def _accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(_labels(pred) == y))


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return balanced_accuracy_score(y, _labels(pred))


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    average = "binary" if pred.ndim == 1 or pred.shape[1] == 2 else "macro"
    return f1_score(y, _labels(pred), average=average, zero_division=0.0)


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def _mae(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y - pred)))


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    total = np.sum((y - y.mean()) ** 2)
    return float(1 - np.sum((y - pred) ** 2) / total) if total > 0 else float("nan")


def _mape(y: np.ndarray, pred: np.ndarray) -> float:
    nonzero = y != 0
    return float(np.mean(np.abs((y[nonzero] - pred[nonzero]) / y[nonzero]))) if nonzero.any() else float("nan")


def _lift_at_10(y: np.ndarray, pred: np.ndarray) -> float:
    """Positive rate among the 10 % highest scores over the overall positive rate."""
    p = _positive(pred)
    top = np.argsort(-p, kind="stable")[: max(1, int(np.ceil(0.1 * len(p))))]
    base = float(np.mean(y))
    return float(np.mean(y[top]) / base) if base > 0 else float("nan")


def _value_captured_at_20(y: np.ndarray, pred: np.ndarray) -> float:
    """Share of the total target value held by the 20 % of rows predicted highest."""
    top = np.argsort(-pred, kind="stable")[: max(1, int(np.ceil(0.2 * len(pred))))]
    total = float(np.sum(y))
    return float(np.sum(y[top]) / total) if total != 0 else float("nan")


_CLS = ("binary", "multiclass")
SCORERS: dict[str, Scorer] = {
    s.name: s
    for s in (
        Scorer("roc_auc", True, _roc_auc, _CLS),
        Scorer("pr_auc", True, _pr_auc, ("binary",)),
        Scorer("log_loss", False, _log_loss, _CLS),
        Scorer("brier", False, _brier, _CLS),
        Scorer("accuracy", True, _accuracy, _CLS),
        Scorer("balanced_accuracy", True, _balanced_accuracy, _CLS),
        Scorer("f1", True, _f1, _CLS),
        Scorer("rmse", False, _rmse, ("regression",)),
        Scorer("mae", False, _mae, ("regression",)),
        Scorer("r2", True, _r2, ("regression",)),
        Scorer("mape", False, _mape, ("regression",)),
        Scorer("lift_at_10", True, _lift_at_10, ("binary",)),
        Scorer("value_captured_at_20", True, _value_captured_at_20, ("regression",)),
    )
}
ALIASES = {
    "auc": "roc_auc", "roc": "roc_auc", "average_precision": "pr_auc", "ap": "pr_auc",
    "logloss": "log_loss", "neg_log_loss": "log_loss", "brier_score": "brier",
    "neg_root_mean_squared_error": "rmse", "root_mean_squared_error": "rmse",
    "neg_mean_absolute_error": "mae", "mean_absolute_error": "mae",
    "macro_f1": "f1", "f1_macro": "f1", "roc_auc_ovr": "roc_auc",
}
DEFAULT_METRICS = {
    "binary": ["roc_auc", "pr_auc", "log_loss", "brier", "accuracy"],
    "multiclass": ["roc_auc", "log_loss", "accuracy", "balanced_accuracy", "f1"],
    "regression": ["rmse", "mae", "r2"],
}
DEFAULT_PRIMARY = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def get_scorer(name: str, problem: str) -> Scorer:
    """Look a metric up by name (sklearn's spellings accepted) and check it fits the problem."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    scorer = SCORERS.get(key)
    if scorer is None:
        raise KpimlError(f"Unknown metric '{name}'", expected=", ".join(sorted(SCORERS)), got=name, fix="set metrics.primary in kpiml.yaml to one of the expected names")
    if problem not in scorer.problems:
        raise KpimlError(f"Metric '{name}' does not apply to a {problem} target", expected=", ".join(n for n, s in SCORERS.items() if problem in s.problems), got=name, fix="set metrics.primary in kpiml.yaml to one of the expected names")
    return scorer


def evaluate(problem: str, y: np.ndarray, pred: np.ndarray, names: list[str] | None = None) -> dict[str, float]:
    """Every requested (or default) metric of one set of predictions, skipping those that fail."""
    out: dict[str, float] = {}
    for name in names or DEFAULT_METRICS[problem]:
        try:
            scorer = get_scorer(name, problem)
        except KpimlError:
            continue
        out[scorer.name] = round(scorer.score(y, pred), 6)
    return out
