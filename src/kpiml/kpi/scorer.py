"""The KPI as the objective of model selection on out-of-fold predictions.

The search and the choice among candidates maximise what the model would earn if deployed:
the realised OOF profit per row at the operating-point rule (best threshold, capped by the
capacity), or, for the churn template with a Beta-distributed acceptance and no capacity,
EMP per customer, which integrates over the acceptance rate instead of trusting one guess.
AUC breaks ties (two models with the same profit: prefer the better ranking overall).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kpiml.kpi.economics import Payoff, has_economics, max_rows, payoff_from_kpi
from kpiml.kpi.emp import emp_churn
from kpiml.kpi.profit import capped_count, check_labels, profit_curve
from kpiml.spec import Capacity, KpiBlock


def _uses_emp(payoff: Payoff, capacity: Capacity | None) -> bool:
    no_limit = capacity is None or all(v is None for v in (capacity.share, capacity.count, capacity.budget))
    return payoff.churn is not None and payoff.churn.is_stochastic and no_limit


def kpi_score(y: np.ndarray, p: np.ndarray, payoff: Payoff, capacity: Capacity | None = None) -> float:
    """KPI per row of OOF predictions: EMP per customer or realised profit per row (see module)."""
    y_arr, p_arr = check_labels(y, p)
    assert p_arr is not None
    if _uses_emp(payoff, capacity):
        t = payoff.churn
        assert t is not None and t.alpha is not None and t.beta is not None
        return emp_churn(y_arr, p_arr, clv=t.clv, incentive=t.incentive, contact=t.contact, alpha=t.alpha, beta=t.beta).emp
    curve = profit_curve(y_arr, p_arr, payoff)
    limit = None if capacity is None else max_rows(capacity, len(y_arr), payoff.contact)
    _, chosen = capped_count(curve, limit)
    return float(curve.profit[chosen]) / len(y_arr)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def kpi_key(y: np.ndarray, p: np.ndarray, payoff: Payoff, capacity: Capacity | None = None) -> tuple[float, float]:
    """(KPI, AUC): compare candidates lexicographically, the KPI first and AUC as tie-break."""
    y_arr, p_arr = check_labels(y, p)
    assert p_arr is not None
    return kpi_score(y_arr, p_arr, payoff, capacity), _auc(y_arr, p_arr)


def kpi_metric_name(kpi: KpiBlock) -> str:
    """Name of the selection metric the economics imply (as written in the plan and reports)."""
    if not has_economics(kpi):
        return "roc_auc"
    payoff = payoff_from_kpi(kpi, np.ones(1) if kpi.economics.value_column else None)
    return "emp_per_customer" if _uses_emp(payoff, kpi.capacity) else "profit_per_row"


def implied_metric(kpi: KpiBlock) -> tuple[str, str]:
    """The primary metric the KPI's economics imply, with the reason in words, for the plan."""
    name = kpi_metric_name(kpi)
    if name == "roc_auc":
        return name, "No economics are set, so models are ranked by ROC-AUC; set kpi.economics to rank them by value."
    if name == "emp_per_customer":
        return name, ("The churn template with a Beta-distributed acceptance rate implies the Expected Maximum Profit "
                      "per customer (Verbraken et al. 2013): profit at the best threshold, averaged over the acceptance rate.")
    return name, ("The economics imply the realised profit per row at the operating point (best threshold on "
                  "out-of-fold predictions, capped by the capacity); AUC breaks ties.")


def kpi_metric(kpi: KpiBlock, values: np.ndarray | None = None) -> Callable[[np.ndarray, np.ndarray], float]:
    """A `(y, pred) -> float` function for `kpiml.evaluation.metrics.Scorer` (higher is better).

    `pred` may be a probability matrix (the positive class is column 1). With a value column
    the function only accepts predictions of exactly the rows whose `values` were given.
    """
    payoff = payoff_from_kpi(kpi, values)

    def score(y: np.ndarray, pred: np.ndarray) -> float:
        p = pred[:, 1] if np.ndim(pred) == 2 else pred
        return kpi_score(y, p, payoff, kpi.capacity)

    return score
