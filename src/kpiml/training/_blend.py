"""Blending of the best candidates' out-of-fold predictions by greedy ensemble selection.

Caruana et al. (2004): repeatedly add (with replacement) the member whose inclusion most
improves the scorer on the out-of-fold predictions; the counts become weights. It works for
any scorer (including a future profit scorer), never produces negative weights, and only
keeps a blend when it beats the best single model on the same predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kpiml.evaluation.metrics import Scorer


@dataclass(frozen=True)
class Blend:
    weights: dict[str, float]
    score: float
    single_best: str
    single_score: float

    @property
    def used(self) -> bool:
        return len(self.weights) > 1


def combine(preds: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Weighted average of member predictions (probabilities or values)."""
    total = sum(weights.values())
    return sum(w / total * preds[name] for name, w in weights.items())  # type: ignore[return-value]


def _covered(preds: dict[str, np.ndarray]) -> np.ndarray:
    mask = None
    for p in preds.values():
        ok = ~np.isnan(p if p.ndim == 1 else p[:, 0])
        mask = ok if mask is None else mask & ok
    assert mask is not None
    return mask


def select_blend(preds: dict[str, np.ndarray], y: np.ndarray, scorer: Scorer, rounds: int = 30, min_gain: float = 1e-4,
                 weights_by: Scorer | None = None, tolerance: float = 0.0) -> Blend:
    """Greedy selection with replacement; falls back to the single best member.

    With `weights_by` (a smooth metric such as log-loss) the weights are fitted by it and
    `scorer` (a KPI) decides whether the blend replaces the best single member: a profit or
    EMP is a step function of the ranking, and greedy steps on it pick up members for gains
    that are noise on a few thousand rows (the members themselves are fitted by log-loss too).
    A blend whose KPI is within `tolerance` (the KPI's noise) of the single model's ties with
    it, and the tie goes to the smooth metric, which the blend improved.
    """
    if weights_by is not None:
        return _kpi_blend(preds, y, scorer, select_blend(preds, y, weights_by, rounds, min_gain), tolerance)
    mask = _covered(preds)
    y_c, rows = y[mask], np.flatnonzero(mask)
    p_c = {k: v[mask] for k, v in preds.items()}
    singles = {k: scorer.objective(y_c, v, rows) for k, v in p_c.items()}
    best_name = max(singles, key=lambda k: singles[k])
    counts = {best_name: 1}
    best_counts, best_score = dict(counts), singles[best_name]
    current = p_c[best_name].copy()
    for n in range(2, rounds + 1):
        trials = {k: scorer.objective(y_c, (current * (n - 1) + v) / n, rows) for k, v in p_c.items()}
        pick = max(trials, key=lambda k: trials[k])
        current = (current * (n - 1) + p_c[pick]) / n
        counts[pick] = counts.get(pick, 0) + 1
        if trials[pick] > best_score:
            best_counts, best_score = dict(counts), trials[pick]
    if best_score <= singles[best_name] + min_gain * max(1.0, abs(singles[best_name])):
        best_counts = {best_name: 1}
    total = sum(best_counts.values())
    weights = {k: v / total for k, v in best_counts.items()}
    return Blend(weights, scorer.objective(y_c, combine(p_c, weights), rows), best_name, singles[best_name])


def _kpi_blend(preds: dict[str, np.ndarray], y: np.ndarray, scorer: Scorer, fitted: Blend, tolerance: float) -> Blend:
    """The smooth-metric blend, kept unless it trails the best single member on `scorer` by more than `tolerance`."""
    mask = _covered(preds)
    y_c, rows = y[mask], np.flatnonzero(mask)
    singles = {k: scorer.objective(y_c, v[mask], rows) for k, v in preds.items()}
    best = max(singles, key=lambda k: singles[k])
    score = scorer.objective(y_c, combine({k: v[mask] for k, v in preds.items()}, fitted.weights), rows)
    if not fitted.used or score < singles[best] - tolerance:
        return Blend({best: 1.0}, singles[best], best, singles[best])
    return Blend(fitted.weights, score, best, singles[best])
