"""Expected Maximum Profit for customer churn (EMPC; Verbraken, Verbeke and Baesens 2013).

Written by hand with numpy/scipy: no field-standard library exposes EMP besides `empulse`,
which pulls in sympy and compiled extensions for one integral, so kpiml keeps it only as the
reference its tests compare against (to 1e-6).

Notation: the paper labels churners 0; kpiml labels them 1 (the positive class), so here
`pi1` is the share of churners and `pi0` that of non-churners, and F1(t) / F0(t) are the true
and false positive rates of targeting the ranking's top down to t. CLV, d (incentive cost),
f (contact cost) and the acceptance rate gamma ~ Beta(alpha, beta) are the paper's. The profit of targeting the top of the ranking is
linear in gamma,

    P(t; gamma) = pi1 * F1(t) * (gamma * (CLV - d) - f) - pi0 * F0(t) * (d + f),

and EMP = integral over gamma of max_t P(t; gamma) h(gamma) dgamma. The maximum over t is
reached on the vertices of the ROC convex hull; as gamma grows, the optimal vertex moves along
the hull at the breakpoints

    gamma_i = f / (CLV - d) + (d + f) / (CLV - d) * (pi0 / pi1) * (dF0 / dF1)_i,

so the integral is a sum over hull vertices of closed-form partial moments of the Beta
distribution: E[gamma; a < gamma < b] = alpha / (alpha + beta) * (I_b(alpha + 1, beta) -
I_a(alpha + 1, beta)), with I the regularised incomplete beta function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betainc

from kpiml.errors import KpimlError
from kpiml.kpi.profit import check_labels


@dataclass(frozen=True)
class EmpResult:
    """EMP per customer and the expected share of customers to target to reach it."""

    emp: float
    share: float


def _roc_counts(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (negatives, positives) at each distinct score, from the top; starts at (0, 0)."""
    order = np.argsort(-score, kind="stable")
    ranked, labels = score[order], y[order]
    last_of_tie = np.concatenate([ranked[1:] != ranked[:-1], [True]])
    pos = np.cumsum(labels)[last_of_tie]
    neg = np.cumsum(1 - labels)[last_of_tie]
    return np.concatenate([[0], neg]).astype(np.int64), np.concatenate([[0], pos]).astype(np.int64)


def roc_convex_hull(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the upper ROC convex hull as integer counts (negatives, positives).

    Monotone chain on exact integer counts (collinear points dropped), so ties in the scores
    form a single point and no vertex is lost to rounding.
    """
    neg, pos = _roc_counts(y, score)
    hull: list[tuple[int, int]] = []
    for x, z in zip(neg.tolist(), pos.tolist(), strict=True):
        while len(hull) >= 2:
            (ox, oz), (ax, az) = hull[-2], hull[-1]
            if (ax - ox) * (z - oz) - (az - oz) * (x - ox) < 0:
                break
            hull.pop()
        hull.append((x, z))
    arr = np.asarray(hull, dtype=np.int64)
    return arr[:, 0], arr[:, 1]


def _hull_rates(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F0, F1) at the hull vertices; with a single class the diagonal (0, 0) -> (1, 1).

    With one class a rate is undefined but weighted by a prior of zero, so only targeting no one
    or everyone can be optimal; this is also how empulse defines it.
    """
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    neg, pos = roc_convex_hull(y, score)
    return neg / n_neg, pos / n_pos


def _check_terms(clv: float, incentive: float, contact: float, alpha: float, beta: float) -> None:
    if clv <= 0 or incentive < 0 or contact < 0:
        raise KpimlError("EMP needs a positive CLV and non-negative incentive and contact costs",
                         got=f"clv={clv:g}, incentive={incentive:g}, contact={contact:g}", fix="check kpi.economics")
    if alpha <= 0 or beta <= 0:
        raise KpimlError("The acceptance rate's Beta parameters must be positive", got=f"Beta({alpha:g}, {beta:g})",
                         fix="use e.g. acceptance_alpha 6, acceptance_beta 14")


def emp_churn(y: np.ndarray, score: np.ndarray, *, clv: float = 200.0, incentive: float = 10.0,
              contact: float = 1.0, alpha: float = 6.0, beta: float = 14.0) -> EmpResult:
    """EMP per customer of a churn model, and the expected share of customers to target.

    Defaults are the paper's (and empulse's `empc_score`): CLV 200, incentive d = 10 (an
    absolute cost, not a fraction of CLV), contact f = 1, acceptance ~ Beta(6, 14).
    `score` is any ranking score (higher = more likely to churn).
    """
    y_arr, s = check_labels(y, score)
    assert s is not None
    _check_terms(clv, incentive, contact, alpha, beta)
    pi1 = float(y_arr.mean())
    pi0 = 1.0 - pi1
    if pi1 == 0.0 or clv <= incentive:
        return EmpResult(emp=0.0, share=0.0)  # no churner to save, or saving one never pays
    f0, f1 = _hull_rates(y_arr, s)
    d_f0, d_f1 = np.diff(f0), np.diff(f1)
    # A hull edge that gains no churner (d_f1 = 0) never pays for its extra contacts: no break.
    ratio = d_f0 / np.where(d_f1 > 0, d_f1, 1.0)
    breaks = np.where(d_f1 > 0, (contact + (incentive + contact) * (pi0 / pi1) * ratio) / (clv - incentive), np.inf)
    edges = np.clip(np.concatenate([[0.0], np.maximum.accumulate(breaks), [1.0]]), 0.0, 1.0)
    mass = np.diff(betainc(alpha, beta, edges))
    moment = alpha / (alpha + beta) * np.diff(betainc(alpha + 1.0, beta, edges))
    slope = pi1 * f1 * (clv - incentive)
    intercept = -pi1 * f1 * contact - pi0 * f0 * (incentive + contact)
    emp = float(np.sum(slope * moment + intercept * mass))
    share = float(np.sum((pi1 * f1 + pi0 * f0) * mass))
    return EmpResult(emp=emp, share=share)


def emp_score(y: np.ndarray, score: np.ndarray, **terms: float) -> float:
    """EMP per customer alone, for use as a metric (see `emp_churn` for the terms)."""
    return emp_churn(y, score, **terms).emp
