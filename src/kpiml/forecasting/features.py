"""Lag, rolling and calendar features for the global LightGBM model, on an end-aligned matrix.

Series are stacked as rows of one matrix aligned on their last observation (shorter series are
padded with NaN on the left), so a backtest cutoff "k periods before the end" is one column for
all series and features for every series are computed with array arithmetic. Every value is
divided by the series' trailing level (mean |y| over the last season), which makes one model
fit series of any scale and lets trees follow a trend they could not extrapolate in raw units.
mlforecast does this in its own way; it is not a dependency, so this small version is ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Matrix:
    """Series as rows, periods as columns (right-aligned), with exogenous values beyond the end."""

    uids: np.ndarray
    y: np.ndarray  # (n, T) history, NaN-padded on the left
    last_ds: np.ndarray  # (n,) period ordinal of column T-1
    exog: np.ndarray  # (n, T + horizon, k) exogenous values, history then future
    exog_names: list[str]


def to_matrix(data: pd.DataFrame, future: pd.DataFrame, exog: list[str], horizon: int) -> Matrix:
    """Stack the long panel into an end-aligned matrix (see module docstring for why)."""
    uids = data["unique_id"].drop_duplicates().to_numpy()
    codes = pd.Categorical(data["unique_id"], categories=uids).codes
    length = np.bincount(codes, minlength=len(uids))
    T = int(length.max())
    pos_from_end = data.groupby(codes, sort=False).cumcount(ascending=False).to_numpy()
    col = T - 1 - pos_from_end
    y = np.full((len(uids), T), np.nan)
    y[codes, col] = data["y"].to_numpy(float)
    last_ds = data.groupby(codes, sort=True)["ds"].max().to_numpy()
    ex = np.full((len(uids), T + horizon, len(exog)), np.nan)
    if exog:
        ex[codes, col, :] = data[exog].to_numpy(float)
        fcodes = pd.Categorical(future["unique_id"], categories=uids).codes
        fcol = T - 1 + (future["ds"].to_numpy() - last_ds[fcodes])
        keep = (fcodes >= 0) & (fcol < T + horizon)
        ex[fcodes[keep], fcol[keep], :] = future.loc[keep, exog].to_numpy(float)
    return Matrix(uids, y, last_ds, ex, list(exog))


def window_stack(m: Matrix, cutoff_cols: list[int], width: int, horizon: int) -> Matrix:
    """The last `width` columns up to each cutoff, for every series, stacked as rows of one matrix.

    Row block k is the collection as it was at cutoff k, so one recursive pass forecasts every
    backtest window at once: a third of the Python steps, and predict calls large enough for
    LightGBM's threads to pay off.
    """
    n, T = m.y.shape
    k = m.exog.shape[2]
    ys, exs = np.full((len(cutoff_cols) * n, width), np.nan), np.full((len(cutoff_cols) * n, width + horizon, k), np.nan)
    for i, c in enumerate(cutoff_cols):
        lo, skip = max(c + 1 - width, 0), max(width - c - 1, 0)
        ys[i * n : (i + 1) * n, skip:] = m.y[:, lo : c + 1]
        exs[i * n : (i + 1) * n, skip:] = m.exog[:, lo : c + 1 + horizon]
    last_ds = np.concatenate([m.last_ds - (T - 1 - c) for c in cutoff_cols])
    return Matrix(np.tile(m.uids, len(cutoff_cols)), ys, last_ds, exs, m.exog_names)


@dataclass(frozen=True)
class FeatureSpec:
    """Which lags and windows to use, derived from the season length."""

    season_length: int
    freq_code: str
    lags: tuple[int, ...]
    windows: tuple[int, ...]
    level_window: int

    @classmethod
    def for_season(cls, season_length: int, freq_code: str) -> FeatureSpec:
        """Recent lags, one and two seasons back, and short/seasonal rolling means."""
        s = max(int(season_length), 1)
        recent = tuple(range(1, min(max(s, 6), 14) + 1))
        lags = tuple(sorted(set(recent) | ({s, 2 * s} if s > 1 else set())))
        windows = tuple(sorted({3, max(s, 4), 2 * max(s, 4)}))
        return cls(s, freq_code, lags, windows, max(s, 4))

    @property
    def lookback(self) -> int:
        """Columns before the target that any feature reads (lags, windows, seasonal differences)."""
        s = self.season_length
        return max(max(self.lags), max(self.windows), self.level_window, s + max(s, 4), s + 6) + 1

    def names(self, exog: list[str]) -> list[str]:
        return [*(f"lag{k}" for k in self.lags), *(f"mean{w}" for w in self.windows),
                f"std{self.level_window}", "log_level",
                *(f"sdiff{k}" for k in range(1, min(self.season_length, 6) + 1)), "sdiff_mean3", f"sdiff_mean{max(self.season_length, 4)}",
                "season_pos", *calendar_names(self.freq_code), *exog]


def _window_stat(cs: np.ndarray, cnt: np.ndarray, cols: np.ndarray, w: int) -> np.ndarray:
    """Mean over the w columns before each of `cols` from prefix sums (NaN-aware)."""
    hi, lo = cols, np.maximum(cols - w, 0)
    s, c = cs[:, hi] - cs[:, lo], cnt[:, hi] - cnt[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c >= max(1, w // 2), s / np.maximum(c, 1), np.nan)


def prefix_sums(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Prefix sums of |y|, y, y^2 and counts, with a zero column in front (cs[:, t] sums y[:, :t])."""
    ok = ~np.isnan(y)
    z = np.where(ok, y, 0.0)
    pad = np.zeros((y.shape[0], 1))
    return (np.hstack([pad, np.cumsum(np.abs(z), axis=1)]), np.hstack([pad, np.cumsum(z, axis=1)]),
            np.hstack([pad, np.cumsum(z * z, axis=1)]), np.hstack([pad, np.cumsum(ok, axis=1)]))


def trailing_level(sums: tuple[np.ndarray, ...], cols: np.ndarray, w: int) -> np.ndarray:
    """Mean |y| over the w periods before each column: the unit every feature is expressed in."""
    cs_abs, _, _, cnt = sums
    level = _window_stat(cs_abs, cnt, cols, w)
    return np.where(level > 0, level, np.nan)


def features_at(m: Matrix, y: np.ndarray, cols: np.ndarray, spec: FeatureSpec, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, len(cols), F) for predicting columns `cols` of `y` from earlier columns only.

    `y` may be the slice of the matrix starting at column `offset` (the recursive forecast
    passes only the last `spec.lookback` columns, which is all any feature reads).
    """
    sums = prefix_sums(y)
    _, cs, cs2, cnt = sums
    level = trailing_level(sums, cols, spec.level_window)
    feats = [y[:, cols - k] if k <= cols.min() else _safe_lag(y, cols, k) for k in spec.lags]
    feats = [f / level for f in feats]
    feats += [_window_stat(cs, cnt, cols, w) / level for w in spec.windows]
    mean = _window_stat(cs, cnt, cols, spec.level_window)
    sq = _window_stat(cs2, cnt, cols, spec.level_window)
    feats.append(np.sqrt(np.maximum(sq - mean**2, 0.0)) / level)
    feats.append(np.log10(level))
    feats += seasonal_diff_features(y, cols, spec, level)
    ordinals = m.last_ds[:, None] - (m.y.shape[1] - 1 - offset - cols)[None, :]
    feats.append((ordinals % spec.season_length).astype(float))
    feats += calendar(ordinals, spec.freq_code)
    feats += [m.exog[:, cols + offset, j] for j in range(m.exog.shape[2])]
    return np.stack(feats, axis=-1), level


def seasonal_diff_features(y: np.ndarray, cols: np.ndarray, spec: FeatureSpec, level: np.ndarray) -> list[np.ndarray]:
    """Recent year-on-year changes (in level units): the local growth a tree cannot infer from lags."""
    s = spec.season_length
    d = np.full_like(y, np.nan)
    d[:, s:] = y[:, s:] - y[:, :-s]
    out = [_safe_lag(d, cols, k) / level for k in range(1, min(s, 6) + 1)]
    sums = prefix_sums(d)
    out += [_window_stat(sums[1], sums[3], cols, w) / level for w in (3, max(s, 4))]
    return out


def _safe_lag(y: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    """Lag k of each column, NaN where it would fall before the first column."""
    idx = cols - k
    out = y[:, np.maximum(idx, 0)]
    out[:, idx < 0] = np.nan
    return out


def calendar_names(freq_code: str) -> list[str]:
    return {"h": ["hour", "dayofweek"], "D": ["dayofweek", "dayofyear"], "W": ["weekofyear"],
            "M": ["month"], "Q": ["quarter"], "Y": []}.get(freq_code, [])


def calendar(ordinals: np.ndarray, freq_code: str) -> list[np.ndarray]:
    """Calendar position of each period (month, weekday ...): the seasonality a lag may miss."""
    names = calendar_names(freq_code)
    if not names:
        return []
    uniq, inv = np.unique(ordinals, return_inverse=True)
    periods = pd.PeriodIndex.from_ordinals(uniq, freq=freq_code)
    start = periods.to_timestamp(how="start")
    values = {"hour": lambda: start.hour, "dayofweek": lambda: start.dayofweek, "dayofyear": lambda: start.dayofyear,
              "weekofyear": lambda: start.isocalendar().week.to_numpy(), "month": lambda: start.month, "quarter": lambda: start.quarter}
    return [np.asarray(values[n](), dtype=float)[inv].reshape(ordinals.shape) for n in names]
