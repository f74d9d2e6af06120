"""Snapshot building speed: raw events to 12 monthly training snapshots (issue 8).

Target: 1,000,000 customers and 100,000,000 events into 12 monthly cutoffs in under
5 minutes on 2 cores with peak memory under 8 GB. The simulator writes the data first
(timed separately, cached under bench/out/ for re-runs); the build then runs in a child
process whose maximum resident set size is the peak memory. The same features on a 1 %
sample of customers are compared in time with featuretools' deep feature synthesis with
cutoff times, when featuretools can be imported (by this interpreter, or the one named by
KPIML_BENCH_FT_PYTHON, by default .venv-bench's, which `make bench` builds: featuretools needs
pandas < 3).

Environment: KPIML_BENCH_SNAPSHOT_CUSTOMERS (default 1,000,000), KPIML_BENCH_SNAPSHOT_DATA
(data folder), KPIML_BENCH_FT_PYTHON (interpreter for featuretools).
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

HERE = Path(__file__).resolve().parent
CUSTOMERS = int(os.environ.get("KPIML_BENCH_SNAPSHOT_CUSTOMERS", 1_000_000))
SEED = 8
LOGIN_RATE, TICKET_RATE = 0.155, 0.03  # about 100 events per customer over the 550 simulated days
WINDOWS = [7, 30, 90, 180]
TARGET_SECONDS, TARGET_GB = 300, 8


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _cpu_seconds() -> float:
    """CPU time of this process (all threads): with other work on the machine, wall time alone misleads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker_generate(folder: str, customers: str) -> None:
    """Child process: simulate the business into Parquet; print timing and size as JSON."""
    import duckdb

    from kpiml.snapshots.simulate import SimulationConfig, simulate_to_parquet

    start = time.perf_counter()
    config = SimulationConfig(n_customers=int(customers), seed=SEED, login_rate=LOGIN_RATE, ticket_rate=TICKET_RATE)
    _, events = simulate_to_parquet(config, Path(folder))
    seconds = time.perf_counter() - start
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{events}/*.parquet')").fetchall()[0][0]
    print(json.dumps({"seconds": seconds, "cpu": _cpu_seconds(), "events": rows, "peak_gb": _peak_gb()}))


def spec_for(folder: Path, out: Path, memory_limit: str) -> dict:
    """Snapshot options for the simulated layout: monthly cutoffs, cancellations, 30 days."""
    events = folder / "events" if (folder / "events").is_dir() else folder / "events.parquet"
    return {
        "entities": {"source": str(folder / "entities.parquet"), "id_column": "customer_id", "time_column": "signup_date"},
        "events": [{"source": str(events), "time_column": "event_time", "type_column": "event_type", "value_column": "amount"}],
        "label": {"event": "cancel", "horizon_days": 30},
        "cutoffs": "monthly",
        "windows": WINDOWS,
        "out": str(out),
        "memory_limit": memory_limit,
        "threads": 2,
    }


def worker_build(folder: str, out: str, memory_limit: str) -> None:
    """Child process: build the snapshots; print timing, size and peak memory as JSON."""
    from kpiml.snapshots import build_snapshots, snapshot_spec_from_dict

    start = time.perf_counter()
    result = build_snapshots(snapshot_spec_from_dict(spec_for(Path(folder), Path(out), memory_limit)))
    seconds = time.perf_counter() - start
    print(json.dumps({
        "seconds": seconds, "rows": result.rows, "features": len(result.features), "cutoffs": [str(c) for c in result.cutoffs],
        "phases": result.seconds, "phase_cpu": result.cpu_seconds, "peak_gb": _peak_gb(), "positives": result.positives, "cpu": _cpu_seconds(),
    }))


def worker_featuretools(folder: str, snapshots: str) -> None:
    """Child process: deep feature synthesis for kpiml's (customer, cutoff) rows, one call per window."""
    import featuretools as ft
    import pandas as pd

    entities = pd.read_parquet(Path(folder) / "entities.parquet")
    events = pd.read_parquet(Path(folder) / "events.parquet").reset_index(names="event_id")
    cutoff_time = pd.read_parquet(snapshots, columns=["customer_id", "cutoff"]).rename(columns={"cutoff": "time"})
    start = time.perf_counter()
    es = ft.EntitySet("shop")
    es.add_dataframe(dataframe=entities, dataframe_name="customers", index="customer_id", time_index="signup_date")
    es.add_dataframe(dataframe=events, dataframe_name="events", index="event_id", time_index="event_time", logical_types={"event_type": "Categorical"})
    es.add_relationship("customers", "customer_id", "events", "customer_id")
    types = [t for t in events["event_type"].unique() if t != "cancel"]
    es.add_interesting_values(dataframe_name="events", values={"event_type": types})
    n_features = 0
    for window in WINDOWS:
        _matrix, defs = ft.dfs(
            entityset=es, target_dataframe_name="customers", cutoff_time=cutoff_time, training_window=f"{window} days",
            agg_primitives=["count", "sum", "mean", "time_since_last"], where_primitives=["count", "sum", "mean", "time_since_last"],
            trans_primitives=[], max_depth=1, verbose=False,
        )
        n_features += len(defs)
    print(json.dumps({"seconds": time.perf_counter() - start, "rows": len(cutoff_time), "features": n_features, "version": ft.__version__}))


def _child(args: list[str], python: str = sys.executable) -> dict:
    """Run this script in worker mode in a fresh process and parse its JSON line."""
    done = subprocess.run([python, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def generate(folder: Path, customers: int) -> dict:
    """Simulate the data once; later runs reuse it (the marker holds the first run's figures)."""
    marker = folder / "done.json"
    if marker.exists():
        return {**json.loads(marker.read_text()), "cached": True}
    figures = _child(["generate", str(folder), str(customers)])
    marker.write_text(json.dumps(figures))
    return {**figures, "cached": False}


def sample(folder: Path, target: Path, share: float) -> None:
    """Write entities and events of a random share of customers (for the featuretools comparison)."""
    import duckdb

    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    # Simulated customers are independent draws, so every 100th id is a fair 1 % sample.
    con.execute("CREATE TABLE keep AS SELECT customer_id FROM read_parquet(?) WHERE customer_id % ? = 0", [str(folder / "entities.parquet"), round(1 / share)])
    con.execute(f"COPY (SELECT e.* FROM read_parquet('{folder}/entities.parquet') e SEMI JOIN keep USING (customer_id)) TO '{target}/entities.parquet'")
    con.execute(f"COPY (SELECT e.* FROM read_parquet('{folder}/events/*.parquet') e SEMI JOIN keep USING (customer_id) ORDER BY customer_id, event_time) TO '{target}/events.parquet'")


def compare_featuretools(folder: Path, work: Path) -> dict:
    """Time kpiml and featuretools on the same 1 % sample; featuretools is optional."""
    small = work / "sample"
    sample(folder, small, 0.01)
    ours = _child(["build", str(small), str(work / "sample.parquet"), "2GB"])
    peers = HERE.parent / ".venv-bench" / "bin" / "python"  # built by `make bench` (requirements/bench-peers.lock)
    python = os.environ.get("KPIML_BENCH_FT_PYTHON") or (str(peers) if peers.exists() else sys.executable)
    probe = subprocess.run([python, "-c", "import featuretools"], capture_output=True, check=False)
    if probe.returncode != 0:
        return {"kpiml": ours, "featuretools": None}
    theirs = _child(["featuretools", str(small), str(work / "sample.parquet")], python=python)
    return {"kpiml": ours, "featuretools": theirs}


def markdown(gen: dict, build: dict, cmp: dict, customers: int) -> str:
    """The section for BENCHMARKS.md."""
    ok = build["seconds"] < TARGET_SECONDS and build["peak_gb"] < TARGET_GB
    lines = [
        "## Snapshots: raw events to training snapshots (`bench/bench_snapshots.py`)",
        "",
        f"{customers:,} simulated customers, {gen['events']:,} events, {len(build['cutoffs'])} monthly cutoffs "
        f"({build['cutoffs'][0]} to {build['cutoffs'][-1]}), {build['features']} features, threads=2, DuckDB memory_limit 5GB.",
        f"Target: under {TARGET_SECONDS} s and {TARGET_GB} GB peak: **{'met' if ok else 'NOT met'}**.",
        "",
        "| step | wall time | CPU time | peak memory | output |",
        "|---|---:|---:|---:|---|",
        f"| generate data (simulator{', cached' if gen.get('cached') else ''}) | {gen['seconds']:.1f} s | {gen.get('cpu', 0):.1f} s | {gen['peak_gb']:.2f} GB | {gen['events']:,} events |",
        f"| build snapshots | {build['seconds']:.1f} s | {build['cpu']:.1f} s | {build['peak_gb']:.2f} GB | {build['rows']:,} rows |",
    ]
    lines += [f"| &nbsp;&nbsp;phase: {k} | {v:.1f} s | {build['phase_cpu'][k]:.1f} s | | |" for k, v in build["phases"].items()]
    ours, theirs = cmp["kpiml"], cmp["featuretools"]
    lines += ["", f"1 % sample of customers ({ours['rows']:,} snapshot rows): kpiml {ours['seconds']:.1f} s for {ours['features']} features (whole build, child process)."]
    if theirs:
        lines.append(
            f"featuretools {theirs['version']} DFS for the same rows as cutoff times (count/sum/mean/time-since-last per event type, one call per window, no trends/shares/ratios): "
            f"{theirs['seconds']:.1f} s for {theirs['features']} features, **{theirs['seconds'] / ours['seconds']:.1f}x** kpiml's time."
        )
    else:
        lines.append("featuretools is not installed here (set KPIML_BENCH_FT_PYTHON to an interpreter that has it); no ratio measured.")
    return "\n".join(lines) + "\n"


def main() -> None:
    load = os.getloadavg()[0]
    folder = Path(os.environ.get("KPIML_BENCH_SNAPSHOT_DATA", HERE / "out" / f"snapshots-data-{CUSTOMERS}-{SEED}"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"generating {CUSTOMERS:,} customers into {folder} ...", flush=True)
    gen = generate(folder, CUSTOMERS)
    print(f"generated {gen['events']:,} events in {gen['seconds']:.1f} s", flush=True)
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp:
        build = _child(["build", str(folder), str(Path(tmp) / "snapshots.parquet"), "5GB"])
        print(f"built {build['rows']:,} rows in {build['seconds']:.1f} s, peak {build['peak_gb']:.2f} GB", flush=True)
        cmp = compare_featuretools(folder, Path(tmp))
    text = markdown(gen, build, cmp, CUSTOMERS) + f"\nLoad average when the run started: {load:.1f} on {os.cpu_count()} cores (other processes share the machine).\n"
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "snapshots.md").write_text(text)
    print(text)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        workers = {"generate": worker_generate, "build": worker_build, "featuretools": worker_featuretools}
        workers[sys.argv[1]](*sys.argv[2:])
    else:
        main()
