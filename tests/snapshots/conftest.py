"""Fixtures for the snapshot tests: a small handmade business and a simulated one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from kpiml.snapshots.simulate import Simulation, SimulationConfig, monthly_churn_snapshots, simulate

CUTOFFS = [date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)]


@pytest.fixture
def tiny(tmp_path: Path) -> dict[str, Path]:
    """Three customers whose every feature and label can be worked out by hand."""
    entities = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "signup_date": pd.to_datetime(["2023-12-01", "2024-01-20", "2024-03-15"]),
        }
    )
    rows = [
        (1, "2024-01-05 08:00", "payment", 9.99),
        (1, "2024-01-10 12:00", "ticket", None),
        (1, "2024-01-25 10:00", "login", None),
        (1, "2024-01-31 23:59", "login", None),
        (1, "2024-02-05 08:00", "payment", 9.99),
        (1, "2024-02-20 15:00", "cancel", None),
        (2, "2024-02-01 00:00", "login", None),  # exactly at a cutoff: after it, not before
        (2, "2024-03-10 09:00", "login", None),
        (3, "2024-03-20 18:00", "login", None),
        (2, "2024-04-30 12:00", "login", None),  # the last event: labels end here
    ]
    events = pd.DataFrame(rows, columns=["customer_id", "event_time", "event_type", "amount"])
    events["event_time"] = pd.to_datetime(events["event_time"])
    paths = {"entities": tmp_path / "entities.parquet", "events": tmp_path / "events.parquet"}
    entities.to_parquet(paths["entities"], index=False)
    events.to_parquet(paths["events"], index=False)
    return paths


@pytest.fixture
def spec_dict() -> Callable[..., dict[str, Any]]:
    """A factory of build options for the usual column layout."""
    return make_spec


def make_spec(entities: Path | str, events: Path | str, out: Path, **overrides: Any) -> dict[str, Any]:
    """Options for the usual layout (customer_id, signup_date, event_time/type/amount)."""
    raw: dict[str, Any] = {
        "entities": {"source": str(entities), "id_column": "customer_id", "time_column": "signup_date"},
        "events": [{"source": str(events), "time_column": "event_time", "type_column": "event_type", "value_column": "amount"}],
        "label": {"event": "cancel", "horizon_days": 30},
        "cutoffs": CUTOFFS,
        "out": str(out),
        "threads": 2,
        "memory_limit": "1GB",
    }
    raw.update(overrides)
    return raw


@pytest.fixture(scope="session")
def sim() -> Simulation:
    """A simulated business of 3,000 customers (about half a million events)."""
    return simulate(SimulationConfig(n_customers=3_000, seed=11))


@pytest.fixture(scope="session")
def sim_files(sim: Simulation, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The simulated business written as Parquet files."""
    folder = tmp_path_factory.mktemp("sim")
    paths = {"entities": folder / "entities.parquet", "events": folder / "events.parquet"}
    sim.entities.to_parquet(paths["entities"], index=False)
    sim.events.to_parquet(paths["events"], index=False)
    return paths


@pytest.fixture(scope="session")
def logins_after_cutoff() -> Callable[[pd.DataFrame, pd.DataFrame], np.ndarray]:
    """A builder of a deliberately leaky feature: each row's logins in the 30 days after its cutoff."""

    def build(snaps: pd.DataFrame, events: pd.DataFrame) -> np.ndarray:
        found = duckdb.sql(
            """
            SELECT s.customer_id, s.cutoff, count(e.event_time) AS n FROM snaps s
            LEFT JOIN events e ON e.customer_id = s.customer_id AND e.event_type = 'login'
                 AND e.event_time > s.cutoff AND e.event_time <= s.cutoff + INTERVAL 30 DAY
            GROUP BY ALL
            """
        ).df()
        return snaps.merge(found, on=["customer_id", "cutoff"], how="left")["n"].to_numpy()

    return build


@pytest.fixture(scope="session")
def simulated_snapshots() -> Callable[[Path, int, int], tuple[Simulation, Any]]:
    """Simulate customers, write their tables to `folder` and build monthly 30-day-churn snapshots."""
    return monthly_churn_snapshots
