"""Cost of per-row reasons in `kpiml predict`: rows/s with and without them on 100,000 rows.

Trains two small bundles on a synthetic churn table (one LightGBM, one logistic: the two
explanation paths a default run ends with), scores the same 100,000-row CSV with
`predict_file(..., reasons=3)` and `reasons=0`, best of two runs each, and writes
bench/out/reasons.md. The machine is shared: the load average is recorded with the timings
and the ratio (with / without, same script, same file) is the figure to quote.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "serving"))

ROWS = 100_000


def churn_table(n: int, seed: int = 0) -> Any:
    """The serving tests' synthetic churn table (numbers, missing values, categories, a date)."""
    return importlib.import_module("conftest").churn_table(n, seed)


def _bundle(folder: Path, candidate: str) -> Path:
    from kpiml.planning import build_plan
    from kpiml.spec import Candidate
    from kpiml.train_cli import write_outputs
    from kpiml.training import train_model

    churn_table(2000).to_csv(folder / "train.csv", index=False)
    plan = build_plan(folder / "train.csv", target="churn", positive="left")
    plan.spec.models.candidates = [Candidate(name=candidate)]  # type: ignore[arg-type]
    result = train_model(plan.spec, plan.frame, budget=10)
    return Path(write_outputs(plan.spec, plan.frame, result, folder / candidate)["bundle"])


def _best_seconds(bundle: Path, data: Path, out: Path, reasons: int) -> float:
    from kpiml.predicting import predict_file

    times = []
    for _ in range(2):
        start = time.perf_counter()
        predict_file(bundle, data, out, reasons=reasons)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from kpiml.artifact import load_bundle

    lines = ["## Reasons in `kpiml predict` (bench/bench_reasons.py)", "",
             f"{ROWS:,} rows (CSV in, CSV out), best of 2 runs each; load average before the runs: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores.", "",
             "| model | rows/s without reasons | rows/s with 3 reasons | time ratio (with / without) |", "|---|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / "score.csv"
        churn_table(ROWS, seed=7).drop(columns="churn").to_csv(data, index=False)
        for candidate in ("lightgbm", "logistic"):
            bundle = _bundle(folder, candidate)
            plain = _best_seconds(bundle, data, folder / "plain.csv", 0)
            with_reasons = _best_seconds(bundle, data, folder / "reasons.csv", 3)
            parts = sum(len(m.parts) for m in load_bundle(bundle).model.members)
            lines.append(f"| {candidate} ({parts} part(s)) | {ROWS / plain:,.0f} | {ROWS / with_reasons:,.0f} | {with_reasons / plain:.2f} |")
            print(lines[-1], flush=True)
    lines += ["", f"Load average after the runs: {os.getloadavg()[0]:.1f}. The LightGBM cost is TreeSHAP (`pred_contrib`, run on all cores for batches of 2,000 rows or more), "
              "which costs tens of times a prediction; logistic reasons are a matrix product, most of their cost is writing the texts. `kpiml predict --no-reasons` skips both."]
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "reasons.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
