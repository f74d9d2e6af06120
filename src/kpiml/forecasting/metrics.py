"""Forecast accuracy: MASE (the choice metric), sMAPE and bias, per series and model.

MASE divides errors by the in-sample seasonal-naive error of the history each backtest window
trained on, so series of any scale can be compared and averaged, and a value below 1 means
"better than repeating last season" (Hyndman & Koehler 2006). statsforecast's own
`utilsforecast.losses` scores one model table at a time; we need the scale per (series,
cutoff) of a rolling-origin backtest, which it does not compute, so this is written here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def seasonal_scale(history: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Running mean absolute seasonal difference per series, indexed by period: the MASE scale.

    Row (uid, ds) holds the scale of a model trained on the series up to and including ds.
    Non-seasonal data (season_length 1) falls back to the naive one-step difference.
    """
    m = max(int(season_length), 1)
    h = history[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"], kind="stable")
    lagged = h.groupby("unique_id", sort=False)["y"].shift(m)
    if lagged.notna().sum() == 0 and m > 1:
        lagged = h.groupby("unique_id", sort=False)["y"].shift(1)
    diff = (h["y"] - lagged).abs()
    total = diff.fillna(0.0).groupby(h["unique_id"], sort=False).cumsum()
    count = diff.notna().astype(float).groupby(h["unique_id"], sort=False).cumsum()
    scale = total / count.replace(0.0, np.nan)
    return pd.DataFrame({"unique_id": h["unique_id"], "ds": h["ds"], "scale": scale.to_numpy()})


def safe_scale(scale: pd.Series, level: pd.Series) -> pd.Series:
    """A constant or perfectly seasonal history has a zero scale: fall back to its level, then 1."""
    fallback = level.abs().where(level.abs() > 0, 1.0)
    return scale.where(scale > 0, fallback).fillna(fallback)


def attach_scale(cv: pd.DataFrame, history: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Add the MASE scale of each backtest row's training history (series, cutoff) as `scale`."""
    scale = seasonal_scale(history, season_length).rename(columns={"ds": "cutoff"})
    level = mean_abs_level(history)
    out = cv.merge(scale, on=["unique_id", "cutoff"], how="left")
    out["scale"] = safe_scale(out["scale"], out["unique_id"].map(level))
    return out


def mean_abs_level(history: pd.DataFrame) -> pd.Series:
    """Mean |y| per series: the scale of last resort (a vectorised groupby, not a per-series apply)."""
    return history["y"].abs().groupby(history["unique_id"], sort=False).mean()


def error_table(cv: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Scaled absolute error, sMAPE term and signed error per backtest row and model, long format."""
    rows = []
    for m in models:
        f, y = cv[m].to_numpy(float), cv["y"].to_numpy(float)
        denom = np.abs(y) + np.abs(f)
        smape = np.where(denom > 0, 200.0 * np.abs(y - f) / np.where(denom > 0, denom, 1.0), 0.0)
        rows.append(pd.DataFrame({
            "unique_id": cv["unique_id"].to_numpy(), "model": m,
            "ase": np.abs(y - f) / cv["scale"].to_numpy(float), "smape": smape,
            "err": f - y, "absy": np.abs(y),
        }))
    return pd.concat(rows, ignore_index=True)


def score_table(cv: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """MASE, sMAPE (%) and bias (% of mean |actual|; positive = over-forecast) per series and model."""
    e = error_table(cv, models)
    g = e.groupby(["unique_id", "model"], sort=False)
    out = g.agg(mase=("ase", "mean"), smape=("smape", "mean"), err=("err", "sum"), absy=("absy", "sum"), n_points=("ase", "size"))
    out["bias"] = 100.0 * out["err"] / out["absy"].where(out["absy"] > 0, np.nan)
    return out.drop(columns=["err", "absy"]).reset_index()


def mase(y: np.ndarray, f: np.ndarray, scale: float) -> float:
    """MASE of one forecast against actuals, given the training history's seasonal-naive scale."""
    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(f, float))) / scale)
