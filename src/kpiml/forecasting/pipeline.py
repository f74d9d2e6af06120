"""Orchestration of `kpiml forecast`: plan models, backtest, choose, forecast, calibrate.

Pure computation on a checked `Panel`: no files, no printing. The CLI edge reads the data,
calls `run_forecast` and writes what the returned `ForecastResult` holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kpiml.forecasting.backtest import (
    Windows,
    default_windows,
    floor_backtest,
    floor_forecast,
    global_backtest,
    stat_backtest,
    stat_forecast,
)
from kpiml.forecasting.candidates import (
    ENSEMBLE,
    FLOOR,
    GLOBAL,
    REGISTRY,
    ModelPlan,
    parse_models,
    plan_models,
)
from kpiml.forecasting.conformal import (
    LEVELS,
    add_intervals,
    backtest_coverage,
    fit_intervals,
    residual_table,
)
from kpiml.forecasting.features import FeatureSpec, to_matrix
from kpiml.forecasting.global_model import GlobalLightGBM
from kpiml.forecasting.metrics import attach_scale, mean_abs_level, score_table, seasonal_scale
from kpiml.forecasting.panel import Panel
from kpiml.forecasting.repairs import min_train_length
from kpiml.forecasting.selection import add_ensemble, choose, chosen_column

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ForecastSettings:
    """What the user may tune; every default is chosen from the data's shape when left None."""

    horizon: int
    models: list[str] | None = None
    budget_s: float = 60.0
    n_jobs: int = 2
    pool_size: int = 3
    windows: Windows | None = None
    seed: int = 0


@dataclass
class ForecastResult:
    """Everything a report or a test needs: the forecast, the backtest and how choices were made."""

    forecast: pd.DataFrame  # unique_id, ds, forecast, lo_80, hi_80, lo_95, hi_95, model
    candidates: pd.DataFrame  # unique_id, ds, one column per candidate model
    scores: pd.DataFrame  # unique_id, model, mase, smape, bias, n_points, chosen
    cv: pd.DataFrame  # backtest forecasts: unique_id, ds, cutoff, y, scale, one column per model
    chosen: pd.Series  # model per series
    pools: dict[str, list[str]]
    coverage: dict[int, float]
    plan: ModelPlan
    windows: Windows
    panel: Panel
    timings: dict[str, float] = field(default_factory=dict)


def _noop(_: str) -> None:
    return None


def run_forecast(panel: Panel, settings: ForecastSettings, progress: Progress = _noop) -> ForecastResult:
    """Backtest every affordable candidate, choose per series, forecast and calibrate intervals."""
    timings: dict[str, float] = {}
    s, h = panel.freq.season_length, settings.horizon
    lengths = panel.lengths()
    windows = settings.windows or default_windows(h, panel.n_series, int(lengths.min()), s)
    counts = windows.per_series(lengths, min_train_length(s))
    plan = plan_models(panel.n_series, float(lengths.mean()), int(counts.mean()) + 1, settings.n_jobs, settings.budget_s, parse_models(settings.models))
    cv, fc = _run_candidates(panel, settings, windows, counts, plan, progress, timings)
    progress("choosing models and calibrating intervals")
    t0 = time.perf_counter()
    models = [m for m in plan.models if m in cv.columns]
    cv = attach_scale(cv, panel.data, s)
    cv, fc, pools = add_ensemble(cv, fc, models, settings.pool_size)
    scores = score_table(cv, [*models, ENSEMBLE])
    chosen = choose(scores)
    scores["chosen"] = scores["model"].to_numpy() == scores["unique_id"].map(chosen).to_numpy()
    res = residual_table(cv, chosen_column(cv, chosen))
    forecast = _final_forecast(fc, chosen, res, panel, h)
    timings["choose_and_calibrate"] = time.perf_counter() - t0
    return ForecastResult(forecast, fc, scores, cv, chosen, pools, backtest_coverage(res, h), plan, windows, panel, timings)


def _run_candidates(panel: Panel, settings: ForecastSettings, windows: Windows, counts: pd.Series, plan: ModelPlan,
                    progress: Progress, timings: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Backtest and final forecasts of the statistical models and the global model, merged."""
    s, h = panel.freq.season_length, settings.horizon
    t0 = time.perf_counter()
    progress(f"backtesting {', '.join(plan.stat_models)} on {panel.n_series:,} series")
    if plan.stat_models == [FLOOR]:
        m = to_matrix(panel.data, panel.future, panel.exog, h)
        cv, fc = floor_backtest(m, windows, counts, s), floor_forecast(m, h, s)
    else:
        stat = [REGISTRY[name].make(s) for name in plan.stat_models]  # type: ignore[misc]
        cv = stat_backtest(panel.data, stat, windows, counts, settings.n_jobs)
        progress("final fit of the statistical models")
        fc = stat_forecast(panel.data, panel.future, stat, h, panel.exog, settings.n_jobs)
    timings["statistical_models"] = time.perf_counter() - t0
    if GLOBAL in plan.models:
        t0 = time.perf_counter()
        progress("backtesting the global LightGBM model")
        g_cv, g_fc = _global(panel, settings, windows, counts)
        cv = cv.merge(g_cv, on=["unique_id", "ds", "cutoff"], how="left")
        fc = fc.merge(g_fc, on=["unique_id", "ds"], how="left")
        timings["global_model"] = time.perf_counter() - t0
    return cv, fc


def _global(panel: Panel, settings: ForecastSettings, windows: Windows, counts: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Backtest and final forecast of the global LightGBM model."""
    h = settings.horizon
    m = to_matrix(panel.data, panel.future, panel.exog, h)
    spec = FeatureSpec.for_season(panel.freq.season_length, panel.freq.code)
    model = GlobalLightGBM(n_jobs=settings.n_jobs, seed=settings.seed)
    cv = global_backtest(m, spec, windows, counts, model, refit=m.y.size <= 100_000)
    last = m.y.shape[1] - 1
    model.fit(m, spec, last)
    pred = model.predict(m, last, h)
    fc = pd.DataFrame({
        "unique_id": np.repeat(m.uids, h).astype(str),
        "ds": (m.last_ds[:, None] + np.arange(1, h + 1)).ravel(),
        GLOBAL: pred.ravel(),
    })
    return cv, fc


def _final_forecast(fc: pd.DataFrame, chosen: pd.Series, res: pd.DataFrame, panel: Panel, h: int) -> pd.DataFrame:
    """The chosen model's forecast per series with conformal intervals around it."""
    out = fc[["unique_id", "ds"]].copy()
    out["forecast"] = chosen_column(fc, chosen)
    out["model"] = out["unique_id"].map(chosen)
    scale = seasonal_scale(panel.data, panel.freq.season_length).groupby("unique_id", sort=False)["scale"].last()
    level = mean_abs_level(panel.data)
    scale = scale.where(scale > 0, level.where(level > 0, 1.0))
    q, diff, _ = fit_intervals(res, h, LEVELS)
    unit = scale * diff.reindex(scale.index).fillna(float(diff.median()) if len(diff) else 1.0)
    return add_intervals(out, q, unit, LEVELS)
