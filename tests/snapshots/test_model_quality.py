"""A model trained on simulated snapshots: near the true-probability AUC, driven by the known drivers.

Trained with plain LightGBM on a time-ordered split (earlier cutoffs, embargoed by the
horizon, against the last three). It should move to `kpiml train` on the snapshot table
once that stage reads snapshot tables.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from kpiml.snapshots import holdout_mask

DRIVERS = {"engagement": "login_", "friction": "ticket_", "card problem": "payment_failure_", "tenure": "tenure_days"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, simulated_snapshots: Any) -> dict[str, Any]:
    """Simulate 20,000 customers, build 12 monthly snapshots, train on the early ones."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    folder = tmp_path_factory.mktemp("quality")
    sim, result = simulated_snapshots(folder, 20_000, 1)
    table = pd.read_parquet(result.path).merge(sim.true_probability(result.cutoffs, 30), on=["customer_id", "cutoff"])
    train, test = holdout_mask(table["cutoff"], 30, holdout_cutoffs=3)
    features = [f.name for f in result.features]
    model = lgb.LGBMClassifier(n_estimators=400, learning_rate=0.02, num_leaves=7, min_child_samples=200, subsample=0.8,
                               subsample_freq=1, colsample_bytree=0.8, random_state=0, n_jobs=1, verbose=-1)
    model.fit(table.loc[train, features], table.loc[train, "label"])
    y = table.loc[test, "label"]
    gain = pd.Series(model.booster_.feature_importance("gain"), index=features).sort_values(ascending=False)
    return {
        "auc": roc_auc_score(y, model.predict_proba(table.loc[test, features])[:, 1]),
        "true_auc": roc_auc_score(y, table.loc[test, "true_probability"]),
        "ranking": list(gain.index),
        "cutoffs": table["cutoff"],
        "train": train,
        "test": test,
    }


@pytest.mark.slow
def test_holdout_auc_is_within_002_of_true_probability_auc(trained: dict[str, Any]) -> None:
    """Check that the time-ordered hold-out AUC is within 0.02 of the simulator's true-probability AUC."""
    assert trained["true_auc"] - trained["auc"] < 0.02, f"model {trained['auc']:.4f} vs true {trained['true_auc']:.4f}"
    assert trained["auc"] > 0.7


@pytest.mark.slow
def test_known_drivers_rank_among_top_features(trained: dict[str, Any]) -> None:
    """Check that each known driver (logins, tickets, payment failures, tenure) has a feature in the top 12."""
    top = trained["ranking"][:12]
    missing = [driver for driver, prefix in DRIVERS.items() if not any(name.startswith(prefix) for name in top)]
    assert not missing, f"drivers {missing} not in top features {top}"
    assert not any(name.startswith("payment_mean") for name in trained["ranking"][:5])  # price is no driver


@pytest.mark.slow
def test_split_never_trains_on_the_holdout_period(trained: dict[str, Any]) -> None:
    """Check that every training row's label window ends before the first hold-out cutoff."""
    first_test = trained["cutoffs"][trained["test"]].min()
    label_ends = trained["cutoffs"][trained["train"]] + pd.Timedelta(days=30)
    assert (label_ends <= first_test).all() and not (trained["train"] & trained["test"]).any()
