"""Rolling-origin backtest of every candidate, on the same windows for all models.

Window k of a series ends `horizon + k * step` periods before its last observation, so each
model forecasts the same points from the same history. statsforecast's `cross_validation`
runs the statistical models; the global LightGBM model is backtested here because it is not
a statsforecast model. Series of different lengths get as many windows as their history
allows (up to the maximum), so one short series does not cut the backtest of all others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpiml.forecasting.features import FeatureSpec, Matrix
from kpiml.forecasting.global_model import GlobalLightGBM


@dataclass(frozen=True)
class Windows:
    """Backtest geometry: horizon, step between cutoffs and the most windows a series gets."""

    horizon: int
    step: int
    max_windows: int

    def per_series(self, lengths: pd.Series, min_train: int) -> pd.Series:
        """Windows each series can afford while keeping `min_train` points before its first cutoff."""
        room = lengths - self.horizon - min_train
        return (room // self.step + 1).clip(lower=1, upper=self.max_windows).astype(int)


def default_windows(horizon: int, n_series: int, min_length: int, season_length: int) -> Windows:
    """More, overlapping windows for few series (conformal intervals need residuals), fewer for many.

    Three windows at least, so the interval level can be checked on held-out windows.
    """
    if n_series <= 20:
        return Windows(horizon, max(1, horizon // 2), 6)
    if n_series <= 2000:
        return Windows(horizon, horizon, 4)
    return Windows(horizon, horizon, 3)


def stat_backtest(data: pd.DataFrame, models: list, windows: Windows, counts: pd.Series, n_jobs: int) -> pd.DataFrame:
    """statsforecast cross-validation (a refit per window), run once per group of series with the same window count."""
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    season = getattr(models[0], "season_length", 1)
    parts = []
    for k, ids in counts.groupby(counts).groups.items():
        df = data.loc[data["unique_id"].isin(ids)]
        sf = StatsForecast(models=models, freq=1, n_jobs=_jobs(len(ids), n_jobs), fallback_model=SeasonalNaive(season))
        cv = sf.cross_validation(df=df, h=windows.horizon, n_windows=int(k), step_size=windows.step)
        parts.append(cv.reset_index(drop="unique_id" in cv.columns))
    out = pd.concat(parts, ignore_index=True)
    out["unique_id"] = out["unique_id"].astype(str)
    return out


def _jobs(n_series: int, n_jobs: int) -> int:
    """Worker processes cost a second or two to start: worth it only for many series."""
    return n_jobs if n_series >= 40 else 1


def stat_forecast(data: pd.DataFrame, future: pd.DataFrame, models: list, horizon: int, exog: list[str], n_jobs: int) -> pd.DataFrame:
    """Final statsforecast fit on the whole history and forecast of the horizon."""
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    season = getattr(models[0], "season_length", 1)
    sf = StatsForecast(models=models, freq=1, n_jobs=_jobs(data["unique_id"].nunique(), n_jobs), fallback_model=SeasonalNaive(season))
    x_df = future[["unique_id", "ds", *exog]] if exog else None
    fc = sf.forecast(df=data, h=horizon, X_df=x_df)
    fc = fc.reset_index(drop="unique_id" in fc.columns)
    fc["unique_id"] = fc["unique_id"].astype(str)
    return fc


def cutoff_columns(m: Matrix, windows: Windows) -> list[int]:
    """Matrix column of the last training point of each window, newest first."""
    T = m.y.shape[1]
    return [T - 1 - windows.horizon - k * windows.step for k in range(windows.max_windows)]


def global_backtest(m: Matrix, spec: FeatureSpec, windows: Windows, counts: pd.Series, model: GlobalLightGBM, refit: bool) -> pd.DataFrame:
    """Backtest the global model: refit per window for small data, else one fit at the oldest cutoff.

    One fit at the oldest cutoff never sees the points it forecasts in later windows, so it is
    honest; it only makes the global model look slightly worse than its final refit.
    """
    cols = cutoff_columns(m, windows)
    n_win = counts.reindex(m.uids).to_numpy()
    oldest = cols[int(n_win.max()) - 1]
    used = cols[: int(n_win.max())]
    if refit:
        preds = [model.fit(m, spec, c).predict(m, c, windows.horizon) for c in used]
    else:
        preds = model.fit(m, spec, oldest).predict_many(m, used, windows.horizon)
    parts = []
    for k, (c, pred) in enumerate(zip(used, preds, strict=True)):
        rows = np.flatnonzero(n_win > k)
        parts.append(_window_rows(m, rows, c, pred[rows], windows.horizon, "LightGBM"))
    return pd.concat(parts, ignore_index=True)


def _window_rows(m: Matrix, rows: np.ndarray, cutoff_col: int, pred: np.ndarray, horizon: int, name: str) -> pd.DataFrame:
    """Long rows (unique_id, ds, cutoff, <name>) of one backtest window."""
    T = m.y.shape[1]
    cutoff = m.last_ds[rows] - (T - 1 - cutoff_col)
    return pd.DataFrame({
        "unique_id": np.repeat(m.uids[rows], horizon).astype(str),
        "ds": (cutoff[:, None] + np.arange(1, horizon + 1)).ravel(),
        "cutoff": np.repeat(cutoff, horizon),
        name: pred.ravel(),
    })


def seasonal_naive(y: np.ndarray, cutoff_col: int, horizon: int, season_length: int) -> np.ndarray:
    """Last season repeated (n, horizon): the floor every other model must beat.

    statsforecast's SeasonalNaive gives the same numbers; this array version exists because a
    collection that affords no other statistical model should not pay statsforecast's import
    (about 4 s, 10 s on a busy machine) for a one-line model.
    """
    s = max(int(season_length), 1)
    steps = np.arange(horizon)
    return y[:, cutoff_col - s + 1 + steps % s]


def floor_backtest(m: Matrix, windows: Windows, counts: pd.Series, season_length: int) -> pd.DataFrame:
    """Backtest rows (unique_id, ds, cutoff, y, SeasonalNaive) on the same windows as the other models."""
    cols = cutoff_columns(m, windows)
    n_win = counts.reindex(m.uids).to_numpy()
    parts = []
    for k, c in enumerate(cols[: int(n_win.max())]):
        rows = np.flatnonzero(n_win > k)
        part = _window_rows(m, rows, c, seasonal_naive(m.y[rows], c, windows.horizon, season_length), windows.horizon, "SeasonalNaive")
        part.insert(3, "y", m.y[rows][:, c + 1 : c + 1 + windows.horizon].ravel())
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def floor_forecast(m: Matrix, horizon: int, season_length: int) -> pd.DataFrame:
    """Final seasonal-naive forecast of every series."""
    last = m.y.shape[1] - 1
    return pd.DataFrame({
        "unique_id": np.repeat(m.uids, horizon).astype(str),
        "ds": (m.last_ds[:, None] + np.arange(1, horizon + 1)).ravel(),
        "SeasonalNaive": seasonal_naive(m.y, last, horizon, season_length).ravel(),
    })
