"""Backtest machinery: windows, the seasonal-naive floor, MASE, model plan, ensemble and intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpiml.forecasting.backtest import (
    Windows,
    floor_backtest,
    floor_forecast,
    stat_backtest,
    stat_forecast,
)
from kpiml.forecasting.candidates import REGISTRY, plan_models
from kpiml.forecasting.conformal import conformal_quantiles, fit_intervals
from kpiml.forecasting.features import to_matrix
from kpiml.forecasting.metrics import attach_scale, score_table
from kpiml.forecasting.selection import add_ensemble, choose


def panel_frame(lengths: tuple[int, ...] = (60, 48, 72), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for i, n in enumerate(lengths):
        t = np.arange(n)
        y = 50 + 10 * i + 0.3 * t + 8 * np.sin(2 * np.pi * t / 12 + i) + rng.normal(0, 2, n)
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": np.arange(500 - n, 500), "y": y}))
    return pd.concat(parts, ignore_index=True)


def test_windows_per_series_follow_history_length() -> None:
    """Check that a short series gets fewer backtest windows instead of cutting the others' backtest."""
    w = Windows(horizon=12, step=12, max_windows=4)
    counts = w.per_series(pd.Series({"long": 120, "mid": 52, "short": 30}), min_train=16)
    assert counts.to_dict() == {"long": 4, "mid": 3, "short": 1}


def test_array_seasonal_naive_equals_statsforecast() -> None:
    """Check that the array seasonal naive (used when no other statistical model is affordable) equals statsforecast's."""
    data = panel_frame()
    w = Windows(12, 6, 3)
    counts = w.per_series(data.groupby("unique_id").size(), 16)
    m = to_matrix(data, data.iloc[:0], [], 12)
    mine, theirs = floor_backtest(m, w, counts, 12), stat_backtest(data, [REGISTRY["SeasonalNaive"].make(12)], w, counts, 1)
    both = mine.merge(theirs, on=["unique_id", "ds", "cutoff"], suffixes=("", "_sf"))
    assert len(both) == len(mine) == len(theirs)
    assert np.allclose(both["SeasonalNaive"], both["SeasonalNaive_sf"]) and np.allclose(both["y"], both["y_sf"])
    f = floor_forecast(m, 12, 12).merge(stat_forecast(data, data.iloc[:0], [REGISTRY["SeasonalNaive"].make(12)], 12, [], 1), on=["unique_id", "ds"])
    assert np.allclose(f["SeasonalNaive_x"], f["SeasonalNaive_y"])


def test_mase_uses_the_seasonal_naive_error_of_the_training_history() -> None:
    """Check that MASE divides by the in-sample seasonal-naive MAE up to each cutoff."""
    hist = pd.DataFrame({"unique_id": "a", "ds": np.arange(30), "y": np.arange(30, dtype=float) * 2})  # seasonal diff 24
    cv = pd.DataFrame({"unique_id": "a", "ds": [21, 22], "cutoff": [20, 20], "y": [42.0, 44.0], "m": [36.0, 44.0]})
    scores = score_table(attach_scale(cv, hist, 12), ["m"])
    assert scores["mase"].iloc[0] == pytest.approx(3 / 24)
    assert scores["bias"].iloc[0] == pytest.approx(100 * -6 / 86)


def test_plan_keeps_expensive_models_for_small_collections_only() -> None:
    """Check that AutoARIMA runs on a few series but is skipped, with the reason, on 10,000."""
    small = plan_models(5, 120, 5, 2, 60.0)
    big = plan_models(10_000, 120, 4, 2, 60.0)
    assert "AutoARIMA" in small.models and "AutoETS" in small.models
    assert big.models == ("SeasonalNaive", "LightGBM") and "exceeds the 60 s budget" in big.skipped["AutoARIMA"]


def test_ensemble_pools_each_series_best_models_and_choice_is_lowest_mase() -> None:
    """Check that the ensemble averages each series' k best models and every series gets its lowest-MASE model."""
    cv = pd.DataFrame({"unique_id": ["a"] * 2 + ["b"] * 2, "ds": [1, 2] * 2, "cutoff": [0] * 4, "y": [10.0, 10.0, 10.0, 10.0],
                       "scale": 1.0, "m1": [10.0, 10.0, 14.0, 14.0], "m2": [11.0, 11.0, 10.5, 10.5], "m3": [15.0, 15.0, 9.0, 9.0]})
    fc = pd.DataFrame({"unique_id": ["a", "b"], "ds": [3, 3], "m1": [1.0, 1.0], "m2": [2.0, 2.0], "m3": [3.0, 3.0]})
    cv2, fc2, pools = add_ensemble(cv, fc, ["m1", "m2", "m3"], k=2)
    assert pools == {"a": ["m1", "m2"], "b": ["m2", "m3"]}
    assert fc2["Ensemble"].tolist() == [1.5, 2.5]
    chosen = choose(score_table(cv2, ["m1", "m2", "m3", "Ensemble"]))
    assert chosen.to_dict() == {"a": "m1", "b": "Ensemble"}


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=20, max_value=400), level=st.sampled_from([50.0, 80.0, 95.0]), seed=st.integers(0, 10_000))
def test_conformal_quantile_covers_exchangeable_scores(n: int, level: float, seed: int) -> None:
    """Check that the split-conformal quantile covers a fresh exchangeable score with probability >= level."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_t(3, size=(200, n + 1))
    q = np.array([conformal_quantiles(row[:-1], np.array([level]))[0] for row in scores])
    cover = np.mean(np.abs(scores[:, -1]) <= q)
    assert cover >= level / 100 - 3 * np.sqrt(level / 100 * (1 - level / 100) / 200)


def test_intervals_widen_with_horizon_and_series_difficulty() -> None:
    """Check that half-widths never shrink with the step and scale with a series' own backtest error."""
    rng = np.random.default_rng(0)
    rows = []
    for s in range(60):
        noise = 0.5 if s % 2 else 2.0
        for w in range(4):
            for h in range(1, 7):
                rows.append((f"s{s}", h, w, rng.normal(0, noise * np.sqrt(h))))
    res = pd.DataFrame(rows, columns=["unique_id", "h", "window", "e"])
    q, diff, levels = fit_intervals(res, 6)
    assert (np.diff(q, axis=1) >= 0).all() and (q[1] >= q[0]).all()
    assert diff["s0"] > 2 * diff["s1"]
    assert 70 <= levels[0] <= 90 and 90 <= levels[1] <= 99.5


def test_stacked_windows_forecast_like_one_window_at_a_time() -> None:
    """Check that forecasting all backtest windows in one stacked pass gives each window's own recursive forecast."""
    from kpiml.forecasting.features import FeatureSpec
    from kpiml.forecasting.global_model import GlobalLightGBM

    data = panel_frame(lengths=(60, 30, 72))  # the 30-point series is padded left of its oldest cutoff
    data["promo"] = (data["ds"] % 5 == 0).astype(float)
    data["y"] += 30 * data["promo"]  # strong enough that a misaligned exogenous column changes the forecast
    future = pd.DataFrame({"unique_id": np.repeat(["s0", "s1", "s2"], 6), "ds": np.tile(np.arange(500, 506), 3), "promo": 1.0})
    m = to_matrix(data, future, ["promo"], 6)
    model = GlobalLightGBM(n_estimators=20, n_jobs=1).fit(m, FeatureSpec.for_season(12, "M"), 47)
    cutoffs = [65, 59, 53, 47]
    for c, stacked in zip(cutoffs, model.predict_many(m, cutoffs, 6), strict=True):
        single = model.predict(m, c, 6)
        assert np.allclose(stacked, single, equal_nan=True), c
        assert np.isfinite(stacked[[0, 2]]).all()
