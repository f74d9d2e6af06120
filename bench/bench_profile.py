"""Profiling speed: `kpiml plan` on a synthetic 1,000,000-row x 50-column CSV.

Target (issue 2): under 30 s on 2 cores with peak memory under 2 GB. The CSV mixes numeric
and categorical columns with missing values; generation time is not counted. Peak memory is
the child process's maximum resident set size.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = int(os.environ.get("KPIML_BENCH_PROFILE_ROWS", 1_000_000))
HERE = Path(__file__).resolve().parent


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {"customer_id": np.arange(rows)}
    for i in range(30):
        x = rng.normal(50, 20, rows) if i % 3 else rng.lognormal(3, 1, rows)
        x[rng.random(rows) < 0.05] = np.nan
        cols[f"num_{i:02d}"] = x.round(3)
    for i in range(18):
        k = [3, 8, 40, 300][i % 4]
        cats = np.array([f"c{i}_{j}" for j in range(k)], dtype=object)
        v = cats[rng.integers(0, k, rows)]
        v[rng.random(rows) < 0.03] = None
        cols[f"cat_{i:02d}"] = v
    logit = 0.03 * (np.nan_to_num(np.asarray(cols["num_01"], dtype=float), nan=50.0) - 50)
    cols["churn"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-(logit - 1))), "Yes", "No")
    import pyarrow as pa
    import pyarrow.csv as pacsv

    pacsv.write_csv(pa.Table.from_pandas(pd.DataFrame(cols), preserve_index=False), path)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "wide.csv"
        t0 = time.perf_counter()
        make_csv(csv, ROWS)
        gen = time.perf_counter() - t0
        size_mb = csv.stat().st_size / 1e6
        t0 = time.perf_counter()
        res = subprocess.run([str(Path(sys.executable).with_name("kpiml")), "plan", str(csv), "--target", "churn", "--positive", "Yes", "--out", str(Path(tmp) / "proj")], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mb, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
        load = os.getloadavg()[0]
        if res.returncode != 0:
            print(res.stdout, res.stderr, file=sys.stderr)
            raise SystemExit("kpiml plan failed")
    verdict = "pass" if wall < 30 and peak_mb < 2048 else "FAIL"
    md = (
        "## Profiling (`kpiml plan`) — bench/bench_profile.py\n\n"
        f"Synthetic CSV: {ROWS:,} rows x 50 columns (30 numeric with 5 % missing, 18 categorical of 3–300 levels with 3 % missing, id, binary target), {size_mb:.0f} MB; generated in {gen:.0f} s (not counted).\n\n"
        "| rows | columns | wall time (s) | CPU time (s) | peak memory (MB) | load average at end | target | verdict |\n|---|---|---|---|---|---|---|---|\n"
        f"| {ROWS:,} | 50 | {wall:.1f} | {cpu:.1f} | {peak_mb:.0f} | {load:.1f} | < 30 s, < 2048 MB | {verdict} |\n\n"
        "CPU time is user + system of the `kpiml plan` process (DuckDB reads with 2 threads); a load average above 2 means other work shared the 2 cores, which lengthens wall time.\n"
    )
    print(md)
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "profile.md").write_text(md)


if __name__ == "__main__":
    main()
