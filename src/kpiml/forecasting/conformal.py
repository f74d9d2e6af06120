"""Prediction intervals calibrated on backtest residuals (split conformal, normalised per series).

A residual is divided by its series' MASE scale and by the series' own error level (the
backtest MASE of its chosen forecast, shrunk toward the collection's median because a few
windows estimate it roughly), so residuals of series of any size and difficulty can be
pooled per forecast step (errors grow with the step). This is locally weighted conformal
prediction (Lei et al. 2018) with a per-series difficulty. The interval half-width at step h is
the conformal quantile of pooled |normalised residuals| at h (neighbouring steps are pooled in
until there are enough), times the series' scale and difficulty. Coverage is reported honestly
by leaving one backtest window out: its points are judged by intervals calibrated, difficulty
included, on the other windows.
statsforecast's `ConformalIntervals` refits every model per window and cannot pool across
series nor cover the global model and the ensemble, hence this module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LEVELS = (80, 95)
MIN_POOL = 40
PRIOR_WINDOWS = 2.0  # weight of the collection median in a series' difficulty, in windows


def residual_table(cv: pd.DataFrame, predicted: np.ndarray) -> pd.DataFrame:
    """Scaled residuals of the chosen forecasts with their step h and window (0 = newest)."""
    out = pd.DataFrame({
        "unique_id": cv["unique_id"].to_numpy(),
        "h": (cv["ds"] - cv["cutoff"]).to_numpy(),
        "e": (cv["y"].to_numpy(float) - predicted) / cv["scale"].to_numpy(float),
    })
    out["window"] = cv.groupby("unique_id", sort=False)["cutoff"].rank(method="dense", ascending=False).to_numpy().astype(int) - 1
    return out.loc[np.isfinite(out["e"])].reset_index(drop=True)


def difficulty(res: pd.DataFrame, prior: float = PRIOR_WINDOWS) -> pd.Series:
    """Per-series error level: mean |scaled error| shrunk toward the median, by number of windows."""
    err = res.assign(a=res["e"].abs()).groupby("unique_id", sort=False).agg(m=("a", "mean"), n=("window", "nunique"))
    centre = float(err["m"].median()) if len(err) else 1.0
    w = err["n"] / (err["n"] + prior)
    d = w * err["m"] + (1 - w) * centre
    return d.where(d > 0, centre if centre > 0 else 1.0)


def normalised(res: pd.DataFrame, diff: pd.Series) -> pd.DataFrame:
    """Residual table with `r`: the scaled error divided by its series' difficulty."""
    centre = float(diff.median()) if len(diff) else 1.0
    d = res["unique_id"].map(diff).fillna(centre).to_numpy(float)
    return res.assign(r=res["e"].to_numpy(float) / d)


def calibrate(res: pd.DataFrame, horizon: int, levels: tuple[float, ...] = LEVELS) -> tuple[np.ndarray, pd.Series]:
    """Step half-widths (levels x horizon) in difficulty units and the per-series difficulty."""
    diff = difficulty(res)
    return step_quantiles(normalised(res, diff), horizon, levels), diff


def conformal_quantiles(scores: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Split-conformal quantiles: the ceil((n+1)·level)-th smallest |score| (the largest if n is small)."""
    s = np.sort(np.abs(scores[np.isfinite(scores)]))
    if s.size == 0:
        return np.full(len(levels), np.nan)
    rank = np.minimum(np.ceil((s.size + 1) * np.asarray(levels) / 100 - 1e-9).astype(int), s.size)
    return s[np.maximum(rank, 1) - 1]


def step_quantiles(res: pd.DataFrame, horizon: int, levels: tuple[float, ...] | np.ndarray = LEVELS, min_pool: int = MIN_POOL) -> np.ndarray:
    """Half-widths (levels x horizon), pooling neighbouring steps when data are few."""
    by_h = [res.loc[res["h"] == h, "r"].to_numpy() for h in range(1, horizon + 1)]
    out = np.full((len(levels), horizon), np.nan)
    for i in range(horizon):
        k, pool = 0, by_h[i]
        while pool.size < min_pool and k < horizon:
            k += 1
            pool = np.concatenate(by_h[max(0, i - k) : i + k + 1])
        out[:, i] = conformal_quantiles(pool, np.asarray(levels, dtype=float))
    return np.maximum.accumulate(np.nan_to_num(out, nan=0.0), axis=1)  # wider, never narrower, with h


def add_intervals(forecast: pd.DataFrame, q: np.ndarray, scale: pd.Series, levels: tuple[int, ...] = LEVELS) -> pd.DataFrame:
    """lo_L / hi_L columns around `forecast` from step half-widths and each series' scale."""
    out = forecast.copy()
    step = out.groupby("unique_id", sort=False).cumcount().to_numpy()
    s = out["unique_id"].map(scale).to_numpy(float)
    for i, lv in enumerate(levels):
        half = q[i, np.minimum(step, q.shape[1] - 1)] * s
        out[f"lo_{lv}"] = out["forecast"].to_numpy(float) - half
        out[f"hi_{lv}"] = out["forecast"].to_numpy(float) + half
    return out


def _held_out_hits(res: pd.DataFrame, horizon: int, levels: np.ndarray, adjust: bool) -> np.ndarray:
    """Coverage per level of each window by intervals fitted on the other windows."""
    hits = []
    for w in sorted(res["window"].unique()):
        held, rest = res.loc[res["window"] == w], res.loc[res["window"] != w]
        q, diff, _ = fit_intervals(rest, horizon, levels, adjust=adjust)
        held = normalised(held, diff)
        hits.append(np.abs(held["r"].to_numpy())[None, :] <= q[:, held["h"].to_numpy() - 1])
    return np.concatenate(hits, axis=1).mean(axis=1)


def adjusted_levels(res: pd.DataFrame, horizon: int, levels: np.ndarray) -> np.ndarray:
    """Levels whose leave-one-window-out coverage is closest to the nominal ones.

    Backtest windows are not exchangeable (a crisis year, a calm year), and a model chosen on
    the backtest looks a little better there than it will be; both bias a plain conformal
    quantile. Calibrating the level itself on held-out windows corrects that bias using the
    backtest alone. It needs three windows and enough series for stable quantiles; otherwise
    the nominal levels are kept.
    """
    if res["window"].nunique() < 3 or res["unique_id"].nunique() < MIN_POOL:
        return levels
    grid = np.arange(50.0, 99.51, 0.5)
    cover = _held_out_hits(res, horizon, grid, adjust=False)
    return np.array([grid[np.argmin(np.abs(cover - lv / 100) - 1e-6 * grid)] for lv in levels])


def fit_intervals(res: pd.DataFrame, horizon: int, levels: tuple[float, ...] | np.ndarray = LEVELS, adjust: bool = True) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """Half-widths, per-series difficulty and the levels actually used (see `adjusted_levels`)."""
    used = adjusted_levels(res, horizon, np.asarray(levels, dtype=float)) if adjust else np.asarray(levels, dtype=float)
    q, diff = calibrate(res, horizon, tuple(used))
    return q, diff, used


def backtest_coverage(res: pd.DataFrame, horizon: int, levels: tuple[int, ...] = LEVELS) -> dict[int, float]:
    """Share of backtest points inside intervals fitted (level adjustment included) without their window."""
    if res["window"].nunique() < 2:
        return {lv: float("nan") for lv in levels}
    cover = _held_out_hits(res, horizon, np.asarray(levels, dtype=float), adjust=True)
    return {lv: float(c) for lv, c in zip(levels, cover, strict=True)}
