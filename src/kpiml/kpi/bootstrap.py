"""Percentile bootstrap confidence intervals for hold-out figures (profit, EMP, lift, AUC ...).

A hold-out of a few thousand rows gives a profit figure whose noise is often larger than the
difference between two models, so every hold-out figure is reported with an interval. The
seed is fixed so that a report is reproducible. Resampling can be stratified by the label,
which keeps every resample's churn rate that of the hold-out: it is the rate the business
plans with, and it keeps class-dependent metrics (EMP, AUC) defined on every resample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from kpiml.errors import KpimlError

_CHUNK_CELLS = 2**22  # resample indices held at once in the vectorised mean (32 MiB of int64)


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate on the full sample and its percentile interval."""

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}


def _check(n: int, n_boot: int, level: float) -> None:
    if n == 0:
        raise KpimlError("A confidence interval needs at least one row", got="0 rows", fix="check the hold-out split")
    if n_boot < 1 or not 0 < level < 1:
        raise KpimlError("Bootstrap settings out of range", expected="n_boot >= 1 and 0 < level < 1",
                         got=f"n_boot={n_boot}, level={level}", fix="use e.g. n_boot=1000, level=0.95")


def resample_blocks(n: int, n_boot: int, seed: int = 0, stratify: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Yield blocks (resamples x n) of row indices drawn with replacement, within strata if given.

    Drawn a block at a time (at most 32 MiB) so that both the loop over a metric and the
    vectorised mean share one stream of resamples for a given seed.
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if stratify is None else [np.flatnonzero(np.asarray(stratify) == g) for g in np.unique(stratify)]
    chunk = max(1, _CHUNK_CELLS // n)
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        yield np.concatenate([g[rng.integers(0, len(g), (m, len(g)))] for g in groups], axis=1)


def _interval(estimate: float, stats: np.ndarray, level: float, n_boot: int) -> ConfidenceInterval:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return ConfidenceInterval(estimate=float(estimate), low=float(low), high=float(high), level=level, n_boot=n_boot)


def bootstrap_ci(metric: Callable[..., float], *arrays: np.ndarray, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0, stratify: np.ndarray | None = None) -> ConfidenceInterval:
    """Interval for `metric(*arrays)`, recomputed on resampled rows (the same rows in every array).

    A resample on which the metric is undefined (NaN) is skipped; if more than half are, the
    interval would describe a different population, so that is an error.
    """
    arrs = [np.asarray(a) for a in arrays]
    n = len(arrs[0])
    _check(n, n_boot, level)
    if any(len(a) != n for a in arrs):
        raise KpimlError("Arrays to bootstrap differ in length", got=", ".join(str(len(a)) for a in arrs), fix="pass rows of one table")
    stats = np.array([metric(*[a[idx] for a in arrs]) for block in resample_blocks(n, n_boot, seed, stratify)
                      for idx in block], dtype=float)
    stats = stats[np.isfinite(stats)]
    if len(stats) < n_boot / 2:
        raise KpimlError("The metric is undefined on most bootstrap resamples", got=f"{len(stats)} of {n_boot} defined",
                         fix="stratify the bootstrap by the label, or use more hold-out rows")
    return _interval(metric(*arrs), stats, level, n_boot)


def bootstrap_mean_ci(values: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                      stratify: np.ndarray | None = None) -> ConfidenceInterval:
    """Interval for the mean of per-row values (e.g. profit per customer of fixed decisions).

    Vectorised: the means of many resamples are taken at once as one gather and row mean.
    """
    v = np.asarray(values, dtype=float).reshape(-1)
    n = len(v)
    _check(n, n_boot, level)
    means = [v[block].mean(axis=1) for block in resample_blocks(n, n_boot, seed, stratify)]
    return _interval(float(v.mean()), np.concatenate(means), level, n_boot)
