"""Monitoring speed through the real `kpiml monitor` command, and its statistics over 100 seeds.

Speed target (issue 7): monitoring 1,000,000 new rows with 50 columns in under 30 s on 2 cores.
A model is trained by `kpiml plan` + `kpiml train` (logistic candidate only, as
tests/monitoring/test_cli.py restricts it) on a synthetic 50-column table: 30 numeric columns
with 5 % missing and 20 categorical ones of 3-300 levels with 3 % missing, plus an identifier
and the churn target. The new rows (1,000,000, one numeric column shifted by 0.5 sd) are
written to Parquet; the timed part is `kpiml monitor MODEL new.parquet --out DIR` run as a
child process: wall time, the child's CPU time (user + sys) and peak resident memory
(os.wait4's rusage of that child alone). Everything the command does is counted: imports,
reading the bundle and the Parquet file, cleaning, scoring (a 50,000-row sample, as the
command does), drift, quality, verdict and writing monitor.html / monitor.json.

Bytecode: this development environment sets PYTHONDONTWRITEBYTECODE=1, so every process would
recompile kpiml's modules (seconds under load). An installed kpiml has .pyc files, so the
child runs with the variable removed, after one untimed warm-up run that writes them; one
run with no .pyc to be found (the variable set and PYTHONPYCACHEPREFIX pointing at an empty
folder, so every import compiles, as in a fresh environment here) is reported beside it.

Statistics (examples/telco_churn.csv, i.e. wa_churn, 70/30 stratified split per seed): the
functions `kpiml monitor` runs after reading a bundle — build_contract and training_reference
as `kpiml train` stores them, contract_from_bundle, Thresholds.from_spec and monitor — with a
fixed score formula standing in for the model (the drift statistics do not depend on it):
verdict of the i.i.d. 30 % (false alarm if not ok), of the same rows with monthly_charges
shifted by 0.5 sd and with contract's Month-to-month share moved by 20 points (alarm if
retrain naming only that column), small random batches of 100 rows. KPI-impact coverage goes
through the command's own outcome path (monitor_cli.outcomes_section: decisions_frame,
join_outcomes, outcome_labels, outcome_sections with the churn template's money terms) on
simulated campaigns whose treatment lowers churn by 5 points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KPIML = Path(sys.executable).parent / "kpiml"
ROWS = int(os.environ.get("KPIML_BENCH_MONITOR_ROWS", 1_000_000))
SEEDS = int(os.environ.get("KPIML_BENCH_MONITOR_SEEDS", 100))
TRAIN_ROWS = int(os.environ.get("KPIML_BENCH_MONITOR_TRAIN_ROWS", 50_000))
BUDGET = 20
CHURN = ["--template", "churn", "--clv", "200", "--incentive", "10", "--contact", "1"]
SHIFTED = "num_01"


def make_frame(rows: int, seed: int, shift: bool = False) -> pd.DataFrame:
    """customer_id, 30 numeric columns (5 % missing), 20 categorical ones (3-300 levels, 3 %
    missing) and a churn target that depends on a few of them."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {"customer_id": [f"C{seed}-{i:07d}" for i in range(rows)]}
    for i in range(30):
        x = rng.normal(50, 20, rows) if i % 3 else rng.lognormal(3, 1, rows)
        if shift and f"num_{i:02d}" == SHIFTED:
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
    z = 0.03 * (frame["num_01"].fillna(50) - 50) + 0.8 * (frame["cat_00"] == "c0_1").fillna(False).astype(float) - 1.2
    frame["churn"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-z.to_numpy())), "Yes", "No")
    return frame


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(KPIML), *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode not in (0, 1):
        print(done.stdout, done.stderr, file=sys.stderr)
        raise SystemExit(f"kpiml {args[0]} failed with exit code {done.returncode}")
    return done


def train_model(folder: Path) -> Path:
    """`kpiml plan` + `kpiml train` (logistic only, BUDGET s) on TRAIN_ROWS synthetic rows."""
    make_frame(TRAIN_ROWS, 0).to_parquet(folder / "train.parquet")
    cli("plan", str(folder / "train.parquet"), "--target", "churn", "--positive", "Yes", "--out", str(folder / "p"), *CHURN)
    raw = yaml.safe_load((folder / "p" / "kpiml.yaml").read_text())
    raw["models"]["candidates"] = [{"name": "logistic", "enabled": True, "max_rows": None, "reason": ""}]
    (folder / "p" / "kpiml.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    t0 = time.perf_counter()
    cli("train", "--spec", str(folder / "p" / "kpiml.yaml"), "--budget", str(BUDGET), "--tracking-uri", "none")
    print(f"trained in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder / "p" / "model"


def timed_monitor(model: Path, data: Path, out: Path, env: dict[str, str], profile: Path | None = None) -> dict:
    """Run `kpiml monitor MODEL DATA --out OUT` as a child: wall, CPU (user + sys), peak RSS, verdict."""
    command = [str(KPIML), "monitor", str(model), str(data), "--out", str(out)]
    if profile is not None:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), *command]
    load = os.getloadavg()
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
        child.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        text = log.read()
    if child.returncode not in (0, 1):
        print(text, file=sys.stderr)
        raise SystemExit(f"kpiml monitor failed with exit code {child.returncode}")
    from kpiml.monitoring import MonitorResult

    verdict = MonitorResult.model_validate_json((out / "monitor.json").read_text()).verdict
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "user": usage.ru_utime, "sys": usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024, "exit": child.returncode, "verdict": verdict.level,
            "named": verdict.columns("retrain"), "watched": verdict.columns("watch"),
            "load": load, "output": text}


def speed() -> dict:
    """Train a model, write ROWS new rows with one shifted column, time `kpiml monitor` on them."""
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = train_model(folder)
        new = make_frame(ROWS, 1, shift=True).drop(columns="churn")
        new.to_parquet(folder / "new.parquet")
        new.head(1000).to_parquet(folder / "small.parquet")
        del new
        timed_monitor(model, folder / "small.parquet", folder / "warm", cached)  # writes the .pyc files an install has
        figures = timed_monitor(model, folder / "new.parquet", folder / "out", cached)
        print(json.dumps({k: v for k, v in figures.items() if k != "output"}), flush=True)
        nocache = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(folder / "empty-pycache")}
        compiled = timed_monitor(model, folder / "new.parquet", folder / "out2", nocache)  # no .pyc found: every import compiles
        figures["wall_nocache"], figures["cpu_nocache"] = compiled["wall"], compiled["cpu"]
        if os.environ.get("KPIML_BENCH_MONITOR_PROFILE"):
            timed_monitor(model, folder / "new.parquet", folder / "out3", cached, Path(os.environ["KPIML_BENCH_MONITOR_PROFILE"]))
        figures["reference_kb"] = (model / "reference.json").stat().st_size / 1e3
    return figures


def churn_spec(folder: Path) -> tuple[pd.DataFrame, object]:
    """wa_churn as `kpiml monitor` reads it (cleaned) and the spec `kpiml plan` writes for it."""
    from kpiml.data.clean import clean_frame
    from kpiml.data.readers import read_table
    from kpiml.spec import load_spec

    example = ROOT / "examples" / "telco_churn.csv"
    cli("plan", str(example), "--target", "churn", "--positive", "Yes", "--out", str(folder), *CHURN)
    return clean_frame(read_table(str(example)))[0], load_spec(folder / "kpiml.yaml")


def churn_statistics(seeds: int) -> dict[str, int]:
    """False alarms and alarms on wa_churn over split seeds, through the command's functions."""
    from sklearn.model_selection import train_test_split

    from kpiml.monitoring import Thresholds, contract_from_bundle, monitor
    from kpiml.monitoring.bundle import training_reference
    from kpiml.predicting import build_contract

    sys.path.insert(0, str(ROOT / "tests" / "monitoring"))
    from conftest import churn_score, move_category, shift_numeric  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory() as tmp:
        data, spec = churn_spec(Path(tmp))
    thresholds = Thresholds.from_spec(spec.monitoring)  # type: ignore[attr-defined]
    out = {"iid_ok": 0, "shift_alarm": 0, "move_alarm": 0, "batch_ok": 0, "batches": 0}
    for seed in range(seeds):
        tr, te = train_test_split(data, test_size=0.3, stratify=data["churn"], random_state=seed)
        contract = build_contract(tr, spec)  # type: ignore[arg-type]
        ref = training_reference(tr, contract, churn_score(tr))
        checked = contract_from_bundle(contract, ref)
        te = te.drop(columns="churn")

        def verdict(frame: pd.DataFrame, ref=ref, checked=checked) -> tuple[str, list[str]]:
            v = monitor(ref, frame, scores=churn_score(frame), contract=checked, thresholds=thresholds, direction=spec.kpi.direction).verdict  # type: ignore[attr-defined]
            return v.level, v.columns()

        out["iid_ok"] += verdict(te) == ("ok", [])
        out["shift_alarm"] += verdict(shift_numeric(te, "monthly_charges", 0.5, tr["monthly_charges"].std())) == ("retrain", ["monthly_charges"])
        out["move_alarm"] += verdict(move_category(te, "contract", "Month-to-month", 0.2, seed)) == ("retrain", ["contract"])
        for b in range(5):
            out["batches"] += 1
            out["batch_ok"] += verdict(te.sample(100, random_state=b))[0] == "ok"
    return out


def coverage(seeds: int) -> tuple[int, int]:
    """Seeds whose 95 % intervals cover the true rate and value effects, computed by the
    command's outcome path (`outcomes_section`) from a decision log and an outcome file."""
    from kpiml.monitor_cli import campaign_terms, outcomes_section
    from kpiml.monitoring import Reference, simulate_campaign
    from kpiml.monitoring.decisions import decisions_frame
    from kpiml.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        cli("plan", str(ROOT / "examples" / "telco_churn.csv"), "--target", "churn", "--positive", "Yes", "--out", tmp, *CHURN)
        spec = load_spec(Path(tmp) / "kpiml.yaml")
    bundle = SimpleNamespace(contract={"identifiers": ["id"]}, metadata={"spec": spec.model_dump(mode="json")})
    value, cost = campaign_terms(spec, None, None)
    reference = Reference(rows=0, columns={})  # only its hold-out AUC is read, for live quality
    rate = covered = 0
    for seed in range(seeds):
        camp = simulate_campaign(20_000, 0.25, 0.05, 0.1, seed, clv=-(value or 0.0), cost=cost)
        f = camp.frame
        log = pd.DataFrame({"id": f["id"], "score": f["score"], "decision": (f["act"] & ~f["control"]).astype(int),
                            "control": f["control"].astype(int), "expected_value": np.nan})
        outcomes = pd.DataFrame({"id": f["id"], "churn": np.where(f["churn"] == 1, "Yes", "No")})
        decisions, _ = decisions_frame(log, "id", "simulated log")
        _, impact, _ = outcomes_section(bundle, reference, decisions, outcomes, None, (value, cost))
        assert impact is not None and impact.value_difference is not None
        rate += impact.rate_difference.covers(camp.true_rate_difference)
        covered += impact.value_difference.covers(camp.true_value_difference)
    return rate, covered


def markdown(figures: dict, stats_: dict[str, int], rate: int, value: int) -> str:
    right = figures["verdict"] == "retrain" and figures["named"] == figures["watched"] == [SHIFTED]
    checks = {"wall < 30 s": figures["wall"] < 30, "child CPU < 30 s": figures["cpu"] < 30,
              f"retrain naming only `{SHIFTED}`": right, "coverage >= 90 %": min(rate, value) >= 0.9 * SEEDS}
    verdict = "; ".join(f"{k}: {'pass' if ok else 'FAIL'}" for k, ok in checks.items())
    load = ", ".join(f"{x:.1f}" for x in figures["load"])
    return (
        "## Monitoring (`kpiml monitor`) — bench/bench_monitor.py\n\n"
        f"Model: `kpiml train --budget {BUDGET}` (logistic candidate only) on {TRAIN_ROWS:,} synthetic rows of 50 columns "
        "(30 numeric with 5 % missing, 20 categorical of 3–300 levels with 3 % missing) plus an identifier and the target; "
        f"reference.json in the bundle {figures['reference_kb']:.0f} KB. New rows: {ROWS:,} × the same 50 columns + id in Parquet, "
        f"`{SHIFTED}` shifted by 0.5 sd.\n\n"
        "Timed: `kpiml monitor MODEL new.parquet --out DIR` as a child process (everything: imports, reading, cleaning, "
        "scoring a 50,000-row sample for prediction drift, drift, quality, verdict, monitor.html + monitor.json). "
        "The child runs with bytecode caching allowed (PYTHONDONTWRITEBYTECODE removed, after one untimed warm-up run), "
        "as an installed kpiml has .pyc files.\n\n"
        "| measure | value |\n|---|---|\n"
        f"| **wall time** (target < 30 s) | **{figures['wall']:.1f} s** |\n"
        f"| CPU time of the child (user + sys) | {figures['cpu']:.1f} s ({figures['user']:.1f} + {figures['sys']:.1f}) |\n"
        f"| peak resident memory of the child | {figures['peak_mb']:,.0f} MB |\n"
        f"| verdict / exit code / columns named (retrain; watch or worse) | {figures['verdict']} / {figures['exit']} / {', '.join(figures['named']) or 'none'}; {', '.join(figures['watched']) or 'none'} |\n"
        f"| same command finding no .pyc (PYTHONDONTWRITEBYTECODE=1, empty PYTHONPYCACHEPREFIX: every import compiles) | {figures['wall_nocache']:.1f} s wall, {figures['cpu_nocache']:.1f} s CPU |\n"
        f"| load average (1, 5, 15 min) at the start of the timed run, 2 cores shared | {load} |\n\n"
        f"| statistic over {SEEDS} seeds (wa_churn 70/30; the command's functions, a fixed score formula for the model) | result |\n|---|---|\n"
        f"| i.i.d. 30 % hold-out: verdict ok | {stats_['iid_ok']}/{SEEDS} |\n"
        f"| random 100-row batches of the hold-out: verdict ok | {stats_['batch_ok']}/{stats_['batches']} |\n"
        f"| monthly_charges + 0.5 sd: retrain naming only it | {stats_['shift_alarm']}/{SEEDS} |\n"
        f"| contract Month-to-month share + 20 points: retrain naming only it | {stats_['move_alarm']}/{SEEDS} |\n"
        f"| KPI impact (monitor_cli.outcomes_section), 95 % Newcombe interval covers the true churn effect (20,000 customers, 10 % hold-out) | {rate}/{SEEDS} |\n"
        f"| KPI impact, 95 % Welch interval covers the true value per treated row | {value}/{SEEDS} |\n\n"
        f"Verdict: {verdict}. The machine is shared (2 cores, load average above): the wall time is the child's share of "
        f"the cores, {figures['cpu'] / figures['wall']:.2f} CPU-seconds per second here; its CPU time is what the work itself costs.\n"
    )


def main() -> None:
    figures = speed()
    stats_ = churn_statistics(SEEDS)
    print(json.dumps(stats_), flush=True)
    rate, value = coverage(SEEDS)
    md = markdown(figures, stats_, rate, value)
    print(md)
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "monitor.md").write_text(md)


if __name__ == "__main__":
    main()
