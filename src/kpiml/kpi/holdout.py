"""The KPI figures of a model on its hold-out, each with a bootstrap confidence interval.

The operating point was chosen on out-of-fold predictions; here it is only applied, so the
hold-out figures are an honest test of both the model and the point. Decisions are held fixed
across resamples (the point is part of the model); figures that re-optimise on the hold-out
(best threshold, EMP, the perfect model) are recomputed on each resample. Resamples are
stratified by the label so the churn rate stays that of the hold-out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kpiml.kpi.bootstrap import ConfidenceInterval, bootstrap_ci, bootstrap_mean_ci
from kpiml.kpi.economics import Payoff, max_rows, payoff_from_kpi
from kpiml.kpi.emp import emp_score
from kpiml.kpi.operating_point import OperatingPoint, apply_operating_point
from kpiml.kpi.profit import (
    check_labels,
    cumulative_gain_at,
    lift_at,
    max_profit,
    perfect_profit,
    row_gains,
)


def _emp_terms(payoff: Payoff) -> dict[str, float] | None:
    t = payoff.churn
    if t is None or t.alpha is None or t.beta is None:
        return None
    return {"clv": t.clv, "incentive": t.incentive, "contact": t.contact, "alpha": t.alpha, "beta": t.beta}


def holdout_figures(y: np.ndarray, p: np.ndarray, point: OperatingPoint, values: np.ndarray | None = None, *,
                    k: float = 0.1, n_boot: int = 500, seed: int = 0) -> dict[str, ConfidenceInterval]:
    """Profit per customer at the point, best possible, regret, EMP, lift and gains at k, with CIs.

    Keys: profit_per_row, share_acted (exact: the capacity fixes it), max_profit_per_row (best threshold on these rows within
    the capacity), regret_per_row (against a perfect model within the capacity), lift_at_k,
    gain_at_k, and emp_per_customer for the churn template with a Beta acceptance.
    """
    y_arr, p_arr = check_labels(y, p)
    assert p_arr is not None
    payoff = payoff_from_kpi(point.kpi, values)
    decision, _ = apply_operating_point(point, p_arr, values)
    per_row = np.where(decision == 1, row_gains(y_arr, payoff), 0.0) + _baseline_rows(y_arr, payoff)
    index = np.arange(len(y_arr))

    def ci(metric: Callable[[np.ndarray], float]) -> ConfidenceInterval:
        return bootstrap_ci(metric, index, n_boot=n_boot, seed=seed, stratify=y_arr)

    figures = {
        "profit_per_row": bootstrap_mean_ci(per_row, n_boot=n_boot, seed=seed, stratify=y_arr),
        "share_acted": _exact(float(decision.mean())),
        "max_profit_per_row": ci(lambda i: _best(y_arr[i], p_arr[i], payoff.take(i), point)),
        "regret_per_row": ci(lambda i: _regret(y_arr[i], per_row[i], payoff.take(i), point)),
        "lift_at_k": ci(lambda i: lift_at(y_arr[i], p_arr[i], k)),
        "gain_at_k": ci(lambda i: cumulative_gain_at(y_arr[i], p_arr[i], k)),
    }
    terms = _emp_terms(payoff)
    if terms is not None:
        figures["emp_per_customer"] = ci(lambda i: emp_score(y_arr[i], p_arr[i], **terms))
    return figures


def _exact(value: float) -> ConfidenceInterval:
    """A figure fixed by design (the capacity caps it), so its interval is the point itself."""
    return ConfidenceInterval(estimate=value, low=value, high=value, level=1.0, n_boot=0)


def _baseline_rows(y: np.ndarray, payoff: Payoff) -> np.ndarray:
    """Per-row profit of not acting (−cost_fn on positives, benefit_tn on negatives)."""
    return -y * payoff.cost_fn + (1 - y) * payoff.benefit_tn


def _limit(point: OperatingPoint, n: int, payoff: Payoff) -> int | None:
    return max_rows(point.kpi.capacity, n, payoff.contact)


def _best(y: np.ndarray, p: np.ndarray, payoff: Payoff, point: OperatingPoint) -> float:
    return max_profit(y, p, payoff, _limit(point, len(y), payoff)).profit_per_row


def _regret(y: np.ndarray, per_row: np.ndarray, payoff: Payoff, point: OperatingPoint) -> float:
    best = perfect_profit(y, payoff, _limit(point, len(y), payoff))
    return (best - float(per_row.sum())) / len(y)
