"""Which drivers does `kpiml train` find in simulated snapshots, seed by seed? Evidence for issue 8.

Not part of `make bench`: an experiment a reader can rerun. For each simulator seed it does
what tests/snapshots/test_train_quality.py does for seed 2: simulate 40,000 customers, build
monthly 30-day-churn snapshots, run `kpiml train` (--budget 60) and report, on the plan's
hold-out, the AUC gap to the simulator's true probabilities, the model that shipped, tenure's
rank in kpiml's importance and each driver's summed contribution against the 12th feature's.

    .venv/bin/python bench/snapshot_drivers_check.py 1 2 3
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from kpiml.snapshots.simulate import KNOWN_DRIVERS

TOP = 12
CUSTOMERS = 40_000


def _train(table: Path, project: Path) -> None:
    from kpiml.cli import main

    try:
        main(["train", str(table), "--budget", "60", "--out", str(project), "--tracking-uri", "none"])
    except SystemExit as stop:
        if stop.code != 0:
            raise RuntimeError(f"kpiml train exited {stop.code}") from None


def check(seed: int) -> dict[str, Any]:
    """One seed's figures (the training is real, so they vary a little with the machine's load)."""
    from sklearn.metrics import roc_auc_score

    from kpiml.artifact import load_bundle
    from kpiml.evaluation.explanations import contributions, group_importance
    from kpiml.snapshots.simulate import monthly_churn_snapshots
    from kpiml.spec import load_spec
    from kpiml.training import encode_target, plan_splits

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sim, result = monthly_churn_snapshots(folder, CUSTOMERS, seed)
        _train(result.path, folder / "project")
        metrics = json.loads((folder / "project" / "metrics.json").read_text(encoding="utf-8"))
        frame = pd.read_parquet(result.path)
        spec = load_spec(folder / "project" / "kpiml.yaml")
        y, _ = encode_target(frame, spec)
        splits = plan_splits(frame, y, spec.split, "binary")
        held = frame.iloc[splits.holdout]
        truth = held[["customer_id", "cutoff"]].merge(sim.true_probability(result.cutoffs, 30), on=["customer_id", "cutoff"], how="left")
        model = load_bundle(folder / "project" / "model").model
    effects = contributions(model, held)
    single = effects.abs().mean().sort_values(ascending=False)
    drivers = group_importance(effects, KNOWN_DRIVERS).round(5).to_dict()
    return {
        "seed": seed,
        "holdout_auc": round(metrics["holdout"]["roc_auc"], 4),
        "gap_to_true_auc": round(roc_auc_score(y[splits.holdout], truth["true_probability"].to_numpy()) - metrics["holdout"]["roc_auc"], 4),
        "shipped": metrics.get("model", {}).get("members"),
        "tenure_rank": [i + 1 for i, name in enumerate(single.index) if name.startswith("tenure_")],
        "driver_contributions": drivers,
        f"feature_{TOP}": round(float(single.iloc[TOP - 1]), 5),
        f"top_{TOP}": list(single.index[:TOP]),
    }


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["1", "2", "3"]:
        print(json.dumps(check(int(arg))), flush=True)
