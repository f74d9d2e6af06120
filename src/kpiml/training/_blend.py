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
                 weights_by: Scorer | None = None, tolerance: float = 0.0, member_gain: dict[str, float] | None = None) -> Blend:
    """Greedy selection with replacement; falls back to the single best member.

    With `weights_by` (a smooth metric such as log-loss) the weights are fitted by it and
    `scorer` (a KPI) decides whether the blend replaces the best single member: a profit or
    EMP is a step function of the ranking, and greedy steps on it pick up members for gains
    that are noise on a few thousand rows (the members themselves are fitted by log-loss too).
    A blend whose KPI is within `tolerance` (the KPI's noise) of the single model's ties with
    it, and the tie goes to the smooth metric, which the blend improved.

    `member_gain` (per member, in the units of the metric the weights are fitted by): each
    member after the best one must raise the blend's score by at least its figure
    (`_parsimonious`).
    """
    if weights_by is not None:
        fitted = select_blend(preds, y, weights_by, rounds, min_gain, member_gain=member_gain)
        return _kpi_blend(preds, y, scorer, fitted, tolerance)
    if member_gain and len(preds) > 1:
        preds = _parsimonious(preds, y, scorer, rounds, min_gain, member_gain)
    return _caruana(preds, y, scorer, rounds, min_gain)


def _parsimonious(preds: dict[str, np.ndarray], y: np.ndarray, scorer: Scorer, rounds: int, min_gain: float, member_gain: dict[str, float]) -> dict[str, np.ndarray]:
    """The members worth their cost, added best first: each must raise the blend of those
    before it by its `member_gain`. A booster multiplies prediction and TreeSHAP time: on IBM
    Telco a blend of CatBoost, XGBoost and LightGBM gained 0.0007 OOF AUC (a tenth of the
    folds' noise) over CatBoost alone, for three times the explanation cost per row."""
    current = _caruana(preds, y, scorer, rounds, min_gain)
    kept, score = [current.single_best], current.single_score
    while len(kept) < len(preds):
        trials = {k: _caruana({m: preds[m] for m in (*kept, k)}, y, scorer, rounds, min_gain) for k in preds if k not in kept}
        best = max(trials, key=lambda k: trials[k].score - member_gain.get(k, 0.0))
        if trials[best].score < score + member_gain.get(best, 0.0) or trials[best].weights.get(best, 0.0) == 0.0:
            break
        kept.append(best)
        score = trials[best].score
    return {k: preds[k] for k in kept}


def _caruana(preds: dict[str, np.ndarray], y: np.ndarray, scorer: Scorer, rounds: int, min_gain: float) -> Blend:
    """Caruana et al.'s greedy ensemble selection on the rows every member covers."""
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
