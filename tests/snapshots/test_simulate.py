"""The simulator: deterministic, chunked, and faithful to its documented drivers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from kpiml.snapshots.simulate import (
    EVENT_TYPES,
    Simulation,
    SimulationConfig,
    simulate,
    simulate_to_parquet,
)


def test_same_seed_same_data_other_seed_other_data() -> None:
    """Check that a seed fixes every table and another seed changes them."""
    a, b = simulate(SimulationConfig(n_customers=300, seed=5)), simulate(SimulationConfig(n_customers=300, seed=5))
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.latent, b.latent)
    assert not simulate(SimulationConfig(n_customers=300, seed=6)).events["event_time"].equals(a.events["event_time"])


def test_parquet_output_equals_in_memory_output(tmp_path: Path) -> None:
    """Check that writing chunk by chunk gives exactly the in-memory tables."""
    config = SimulationConfig(n_customers=12_000, seed=3, days=120)
    entities_path, events_dir = simulate_to_parquet(config, tmp_path)
    memory = simulate(config)
    assert len(list(events_dir.glob("*.parquet"))) == 2
    pd.testing.assert_frame_equal(pd.read_parquet(entities_path), memory.entities, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_parquet(events_dir), memory.events, check_dtype=False)


def test_events_are_well_formed(sim: Simulation) -> None:
    """Check that events use the documented types, fall in the period, and stop at cancellation."""
    events, config = sim.events, sim.config
    assert set(events["event_type"]) == set(EVENT_TYPES)
    start = pd.Timestamp(config.start)
    assert events["event_time"].min() >= start and events["event_time"].max() < start + pd.Timedelta(days=config.days)
    cancel = events[events["event_type"] == "cancel"].set_index("customer_id")["event_time"]
    assert cancel.index.is_unique
    last = events.groupby("customer_id")["event_time"].max()
    assert (last[cancel.index] == cancel).all()
    signup = sim.entities.set_index("customer_id")["signup_date"]
    assert (events["event_time"].to_numpy() > signup[events["customer_id"]].to_numpy()).all()


def test_documented_drivers_move_the_outcome(sim: Simulation) -> None:
    """Check that churners have lower engagement, more friction and more card problems than stayers."""
    lat = sim.latent
    churned = lat["churn_day"] < sim.config.days
    assert lat.loc[churned, "engagement"].mean() < lat.loc[~churned, "engagement"].mean() - 0.2
    assert lat.loc[churned, "friction"].mean() > lat.loc[~churned, "friction"].mean() + 0.1
    assert lat.loc[churned, "card_problem"].mean() > lat.loc[~churned, "card_problem"].mean()
    per_customer = sim.events[sim.events["event_type"] == "login"].groupby("customer_id").size()
    engagement = lat.set_index("customer_id")["engagement"]
    assert np.corrcoef(engagement[per_customer.index], np.log(per_customer))[0, 1] > 0.3


def test_true_probability_matches_observed_churn(sim: Simulation) -> None:
    """Check that the true probabilities are calibrated: their mean is close to the observed churn rate."""
    cutoffs = [date(2024, m, 1) for m in range(1, 13)]
    truth = sim.true_probability(cutoffs, 30)
    cancel = sim.events[sim.events["event_type"] == "cancel"].set_index("customer_id")["event_time"]
    when = truth["customer_id"].map(cancel)
    observed = (when > truth["cutoff"]) & (when <= truth["cutoff"] + pd.Timedelta(days=30))
    assert abs(truth["true_probability"].mean() - observed.mean()) < 0.006
    assert truth["true_probability"].between(0, 1).all()
