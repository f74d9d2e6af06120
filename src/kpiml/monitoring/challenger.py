"""Champion versus challenger on the most recent labelled window: a paired bootstrap.

`kpiml retrain` trains a challenger with the same spec and must promote it only when it is
better beyond noise. Both models are scored on the same recent rows, so the comparison is
paired: each bootstrap resample draws one set of rows and computes the KPI metric of both
models on it, and the interval is that of the difference (challenger minus champion). Pairing
removes the noise both models share (which rows happened to be in the window), which is most
of it, so a real gain shows up where two separate intervals would overlap. Resamples keep the
window's label mix (stratified by the label, as the hold-out figures of `kpiml.kpi` do).

The rule: promote when the lower end of the interval is above `min_gain` (0: any gain beyond
noise). A challenger trained on shuffled labels scores like chance and is never promoted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import BaseModel

from kpiml.errors import KpimlError
from kpiml.monitoring.impact import Estimate

Metric = Callable[[np.ndarray, np.ndarray], float]


class ChallengerComparison(BaseModel):
    """The evidence for a promotion decision, kept in the retrain history."""

    metric: str
    rows: int
    champion: float
    challenger: float
    difference: Estimate
    n_boot: int
    min_gain: float
    promote: bool
    reason: str


def _check(y: np.ndarray, champion: np.ndarray, challenger: np.ndarray) -> None:
    if not len(y) == len(champion) == len(challenger):
        raise KpimlError("Champion and challenger scores must be for the same rows",
                         got=f"{len(y)} labels, {len(champion)} and {len(challenger)} scores", fix="score both models on the same window")
    if len(np.unique(y)) < 2:
        raise KpimlError("The comparison window has a single label value, so the KPI metric is undefined",
                         expected="both outcomes in the most recent labelled rows", got=f"{len(y)} rows, all {y[0] if len(y) else 'empty'}",
                         fix="widen the comparison window")


def paired_differences(y: np.ndarray, champion: np.ndarray, challenger: np.ndarray, metric: Metric, n_boot: int, seed: int) -> np.ndarray:
    """Metric(challenger) - metric(champion) on each stratified resample of the same rows."""
    from kpiml.kpi.bootstrap import resample_blocks

    diffs = [metric(y[idx], challenger[idx]) - metric(y[idx], champion[idx])
             for block in resample_blocks(len(y), n_boot, seed, stratify=y) for idx in block]
    out = np.asarray(diffs, dtype=np.float64)
    return out[np.isfinite(out)]


def compare_challenger(
    y: np.ndarray, champion: np.ndarray, challenger: np.ndarray, metric: Metric, *, metric_name: str = "kpi",
    n_boot: int = 1000, confidence: float = 0.95, min_gain: float = 0.0, seed: int = 0,
) -> ChallengerComparison:
    """Paired bootstrap of the KPI metric difference; promote only when it is above `min_gain`
    beyond noise (the interval's lower end)."""
    y, a, b = np.asarray(y), np.asarray(champion, dtype=np.float64), np.asarray(challenger, dtype=np.float64)
    _check(y, a, b)
    diffs = paired_differences(y, a, b, metric, n_boot, seed)
    tail = (1 - confidence) / 2 * 100
    low, high = (float(v) for v in np.percentile(diffs, [tail, 100 - tail]))
    champ, chall = float(metric(y, a)), float(metric(y, b))
    diff = Estimate(estimate=chall - champ, low=low, high=high, confidence=confidence)
    promote = low > min_gain
    verb = "beats" if promote else ("is not better than" if diff.estimate <= min_gain else "is not better beyond noise than")
    reason = (f"the challenger {verb} the champion on {metric_name}: {chall:.4g} vs {champ:.4g}, "
              f"difference {diff.estimate:+.4g} [{low:+.4g}, {high:+.4g}] over {len(y):,} recent rows")
    return ChallengerComparison(metric=metric_name, rows=len(y), champion=champ, challenger=chall, difference=diff,
                                n_boot=len(diffs), min_gain=min_gain, promote=promote, reason=reason)
