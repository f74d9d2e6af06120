"""`kpiml train` on simulated snapshots: near the true-probability AUC, driven by the known drivers.

The real command runs end to end (`kpiml train TABLE` with no --target: the snapshot's label),
so the split is the one the plan chooses for a snapshot table: later cutoffs of other
customers, embargoed by the 30-day horizon. The hold-out AUC `kpiml train` reports is
compared with the AUC of the simulator's exact probabilities on the same hold-out rows.

Drivers rule: the simulator (kpiml.snapshots.simulate) documents four drivers of the
cancellation hazard: engagement (seen through logins), friction (tickets), a card problem
(payment failures) and tenure. A driver counts as found when any feature derived from its
events ranks among the TOP features of `global_importance` (the importance kpiml reports)
on the hold-out: a name starting with one of the driver's prefixes below. A failed payment
also lowers the share of payments among events, so `payment_share_*` stands for the card
problem as well as `payment_failure_*`; the plan's price (`payment_mean_*`) is no driver and
must not lead.

Slow: 20,000 customers (about 135,000 snapshot rows, 82,000 of them in the training part,
6,400 in the hold-out) and a 60 s search. Fewer customers widen the gap: the paired gap's
bootstrap standard error on 6,400 hold-out rows (about 260 churners) is already ~0.006.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kpiml.cli import main
from kpiml.snapshots import build_snapshots, snapshot_spec_from_dict
from kpiml.snapshots.simulate import SimulationConfig, simulate

DRIVERS = {
    "engagement": ("login_",),
    "friction": ("ticket_",),
    "card problem": ("payment_failure_", "payment_share_"),
    "tenure": ("tenure_",),
}
TOP = 12
BUDGET = 60


def _run(args: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Simulate 20,000 customers, build 12 monthly snapshots, run `kpiml train` on them."""
    from sklearn.metrics import roc_auc_score

    from kpiml.artifact import load_bundle
    from kpiml.evaluation.explanations import global_importance
    from kpiml.spec import load_spec
    from kpiml.training import encode_target, plan_splits

    sim = simulate(SimulationConfig(n_customers=20_000, seed=1))
    folder = tmp_path_factory.mktemp("quality")
    sim.entities.to_parquet(folder / "entities.parquet")
    sim.events.to_parquet(folder / "events.parquet")
    result = build_snapshots(snapshot_spec_from_dict({
        "entities": {"source": str(folder / "entities.parquet"), "id_column": "customer_id", "time_column": "signup_date"},
        "events": [{"source": str(folder / "events.parquet"), "time_column": "event_time", "type_column": "event_type", "value_column": "amount"}],
        "label": {"event": "cancel", "horizon_days": 30},
        "out": str(folder / "snapshots.parquet"),
        "threads": 2,
    }))
    project = folder / "project"
    _run(["train", str(result.path), "--budget", str(BUDGET), "--out", str(project), "--tracking-uri", "none"])
    metrics = json.loads((project / "metrics.json").read_text(encoding="utf-8"))
    spec = load_spec(project / "kpiml.yaml")
    frame = pd.read_parquet(result.path)
    y, _ = encode_target(frame, spec)
    splits = plan_splits(frame, y, spec.split, "binary")
    held = frame.iloc[splits.holdout]
    truth = held[["customer_id", "cutoff"]].merge(sim.true_probability(result.cutoffs, 30), on=["customer_id", "cutoff"], how="left")
    importance = global_importance(load_bundle(project / "model").model, held, y[splits.holdout])
    return {
        "auc": metrics["holdout"]["roc_auc"],
        "true_auc": roc_auc_score(y[splits.holdout], truth["true_probability"].to_numpy()),
        "ranking": list(importance["feature"]),
        "frame": frame,
        "splits": splits,
    }


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="acceptance not met reliably yet (issue 8): `kpiml train --budget 60` measured gaps 0.0255 / 0.0183 / 0.0179 "
                   "on simulator seeds 1 / 2 / 3 (this test uses seed 1); at this size the search keeps 31-leaf LightGBM, while 7 leaves with "
                   "200 rows per leaf refitted on the training part reached 0.021 / 0.018 / 0.010")
def test_holdout_auc_is_within_002_of_true_probability_auc(trained: dict[str, Any]) -> None:
    """Check that the time-ordered hold-out AUC of `kpiml train` is within 0.02 of the true-probability AUC."""
    gap = trained["true_auc"] - trained["auc"]
    assert gap <= 0.02, f"hold-out AUC {trained['auc']:.4f} vs true-probability AUC {trained['true_auc']:.4f}: gap {gap:.4f}"


@pytest.mark.slow
def test_known_drivers_rank_among_top_features(trained: dict[str, Any]) -> None:
    """Check that each known driver has a derived feature in the top 12 of kpiml's importance, and price does not lead."""
    top = trained["ranking"][:TOP]
    missing = [driver for driver, prefixes in DRIVERS.items() if not any(name.startswith(prefixes) for name in top)]
    assert not missing, f"drivers {missing} have no feature in the top {TOP}: {top}"
    assert not any(name.startswith("payment_mean") for name in trained["ranking"][:3]), trained["ranking"][:3]  # the plan's price


@pytest.mark.slow
def test_split_never_validates_a_seen_period_or_customer(trained: dict[str, Any]) -> None:
    """Check that the split `kpiml train` used keeps customers apart and trains only on labels that end before the hold-out."""
    frame, splits = trained["frame"], trained["splits"]
    train, held = frame.iloc[splits.train], frame.iloc[splits.holdout]
    assert not set(train["customer_id"]) & set(held["customer_id"])
    assert (train["cutoff"] + pd.Timedelta(days=30)).max() <= held["cutoff"].min()
    assert np.isin(splits.holdout, splits.train).sum() == 0
