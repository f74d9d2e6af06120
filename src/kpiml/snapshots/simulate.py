"""Simulate a subscription business: customers, their events, and the truth behind them.

Tests, the demo and the benchmark need raw event data whose causes are known, so that a
snapshot table built from it can be checked against the truth: which features should
matter, and how well an ideal model could rank customers.

The generative story (all per customer, all deterministic given ``seed``):

* ``engagement`` e0 ~ N(0, 1) with a linear drift ``engagement_slope`` (per 180 days):
  it drives the daily **login** rate ``login_rate * exp(0.7 e(t))`` and lowers the
  cancellation hazard. Observable through login counts, recency and trend.
* ``friction`` f ~ N(0, 1): drives the daily **ticket** rate
  ``ticket_rate * exp(0.9 f - 0.2 e(t))`` and raises the hazard. Observable through tickets.
* ``payment_risk`` (15 % of customers have a card problem): each monthly bill is a
  **payment** (amount = plan price) or, with probability 3 % (60 % for a card problem),
  a **payment_failure**; a card problem raises the hazard. Observable through failures.
* ``tenure``: new customers churn more (hazard multiplier ``1 + 2 exp(-tenure / 90 d)``).

The daily cancellation hazard is
``h(t) = 0.0008 * exp(-0.8 e(t) + 0.5 f + 1.2 card) * (1 + 2 exp(-tenure / 90))``; on the
day a customer cancels a **cancel** event is written and no later events occur. The known
drivers are therefore logins (level and trend), tickets, payment failures and tenure; plan
and price have no effect. Because the hazard depends only on the latent trajectory, the
true probability of cancelling in (c, c + H] for a customer active at c is exact:
``1 - exp(-sum of h over the H days from c)`` (see :meth:`Simulation.true_probability`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from kpiml.snapshots.build import SnapshotResult

CHUNK = 10_000  # customers generated together; fixed so output does not depend on n
EVENT_TYPES = ("login", "ticket", "payment", "payment_failure", "cancel")
PLANS = ("basic", "standard", "premium")
PRICES = np.array([9.99, 19.99, 39.99])
_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class SimulationConfig:
    """Size, period and seed of a simulated business (events from ``start`` for ``days``)."""

    n_customers: int = 5_000
    seed: int = 0
    start: date = date(2023, 7, 1)
    days: int = 550
    new_share: float = 0.3  # share of customers who sign up during the period
    login_rate: float = 0.5  # daily logins at average engagement
    ticket_rate: float = 0.08  # daily tickets at average friction and engagement


@dataclass
class Simulation:
    """Entities, events and the hidden per-customer truth that generated them."""

    config: SimulationConfig
    entities: pd.DataFrame  # customer_id, signup_date, plan
    events: pd.DataFrame  # customer_id, event_time, event_type, amount
    latent: pd.DataFrame  # customer_id plus the latent drivers and churn day

    def true_probability(self, cutoffs: list[date], horizon_days: int) -> pd.DataFrame:
        """Exact P(cancel in (cutoff, cutoff + horizon]) for each customer active at each cutoff.

        The benchmark for a model trained on snapshots: its hold-out AUC is compared with
        the AUC of these probabilities, which no model can beat on average.
        """
        lat = self.latent
        out = []
        for cutoff in cutoffs:
            day = (pd.Timestamp(cutoff) - pd.Timestamp(self.config.start)).days
            active = (lat["signup_day_float"].to_numpy() < day) & (lat["churn_day"].to_numpy() >= day)
            days = np.arange(day, day + horizon_days)
            cum = _hazard(lat[active], days).sum(axis=1)
            out.append(
                pd.DataFrame(
                    {
                        "customer_id": lat["customer_id"].to_numpy()[active],
                        "cutoff": pd.Timestamp(cutoff),
                        "true_probability": 1.0 - np.exp(-cum),
                    }
                )
            )
        return pd.concat(out, ignore_index=True)


def simulate(config: SimulationConfig) -> Simulation:
    """Simulate a whole business in memory (for tests and the demo; use parquet for millions)."""
    parts = list(_chunks(config))
    return Simulation(
        config=config,
        entities=pd.concat([p[0] for p in parts], ignore_index=True),
        events=pd.concat([p[1] for p in parts], ignore_index=True),
        latent=pd.concat([p[2] for p in parts], ignore_index=True),
    )


def simulate_to_parquet(config: SimulationConfig, folder: Path) -> tuple[Path, Path]:
    """Write ``entities.parquet`` and an ``events/`` folder of parquet parts, one chunk at a time.

    The benchmark needs 100 million events; writing each chunk as it is generated keeps
    memory at one chunk (about a million events) instead of the whole table.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    events_dir = folder / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    entity_parts = []
    for i, (entities, events, _) in enumerate(_chunks(config)):
        table = pa.Table.from_pandas(events, preserve_index=False)
        pq.write_table(table, events_dir / f"part-{i:05d}.parquet", row_group_size=1_000_000)
        entity_parts.append(entities)
    entities_path = folder / "entities.parquet"
    pd.concat(entity_parts, ignore_index=True).to_parquet(entities_path, index=False)
    return entities_path, events_dir


#: The simulator's drivers of cancellation and the prefixes of the snapshot features derived
#: from each. A bill is a payment or a failure (_bills), so payment counts and the payments'
#: share of events carry the card problem too.
KNOWN_DRIVERS: dict[str, tuple[str, ...]] = {
    "engagement": ("login_",),
    "friction": ("ticket_",),
    "card problem": ("payment_failure_", "payment_share_", "payment_count_"),
    "tenure": ("tenure_",),
}


def monthly_churn_snapshots(folder: Path, n_customers: int, seed: int) -> tuple[Simulation, SnapshotResult]:
    """Simulate customers, write their tables to `folder` and build monthly 30-day-churn
    snapshots there (tests and the driver check share this set-up); returns the simulation
    and the build result."""
    from kpiml.snapshots import build_snapshots, snapshot_spec_from_dict

    sim = simulate(SimulationConfig(n_customers=n_customers, seed=seed))
    sim.entities.to_parquet(folder / "entities.parquet")
    sim.events.to_parquet(folder / "events.parquet")
    result = build_snapshots(snapshot_spec_from_dict({
        "entities": {"source": str(folder / "entities.parquet"), "id_column": "customer_id", "time_column": "signup_date"},
        "events": [{"source": str(folder / "events.parquet"), "time_column": "event_time", "type_column": "event_type", "value_column": "amount"}],
        "label": {"event": "cancel", "horizon_days": 30},
        "out": str(folder / "snapshots.parquet"),
        "threads": 2,
    }))
    return sim, result


def _chunks(config: SimulationConfig) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """Yield (entities, events, latent) for consecutive blocks of ``CHUNK`` customers."""
    for index, first in enumerate(range(0, config.n_customers, CHUNK)):
        n = min(CHUNK, config.n_customers - first)
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, index]))
        latent = _latent(rng, config, np.arange(first + 1, first + n + 1, dtype=np.int64))
        events = _events(rng, config, latent)
        entities = pd.DataFrame(
            {
                "customer_id": latent["customer_id"].to_numpy(),
                "signup_date": _to_time(config, latent["signup_day_float"].to_numpy()),
                "plan": pd.Categorical.from_codes(latent["plan_code"].to_numpy(), PLANS).astype(str),
            }
        )
        yield entities, events, latent


def _latent(rng: np.random.Generator, config: SimulationConfig, ids: np.ndarray) -> pd.DataFrame:
    """Draw each customer's hidden drivers, signup time and (from the hazard) churn day."""
    n = len(ids)
    new = rng.random(n) < config.new_share
    signup = np.where(new, rng.uniform(0, config.days - 30, n), -rng.uniform(1, 1_000, n))
    lat = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_day_float": signup,
            "engagement": rng.normal(0.0, 1.0, n),
            "engagement_slope": rng.normal(-0.15, 0.5, n),
            "friction": rng.normal(0.0, 1.0, n),
            "card_problem": (rng.random(n) < 0.15).astype(np.int8),
            "plan_code": rng.integers(0, len(PLANS), n).astype(np.int8),
            "billing_offset": rng.integers(0, 30, n),
        }
    )
    days = np.arange(config.days)
    hazard = _hazard(lat, days) * _alive_from(lat, days)
    # Discrete-time survival: churn on the first day the cumulative hazard passes an Exp(1).
    cum = np.cumsum(hazard, axis=1)
    threshold = rng.exponential(1.0, n)
    crossed = cum >= threshold[:, None]
    lat["churn_day"] = np.where(crossed.any(axis=1), crossed.argmax(axis=1), np.iinfo(np.int64).max)
    return lat


def _first_day(lat: pd.DataFrame) -> np.ndarray:
    """First whole day a customer can act: the day after signup, or day 0 for older customers."""
    return np.maximum(np.floor(lat["signup_day_float"].to_numpy()) + 1, 0)


def _alive_from(lat: pd.DataFrame, days: np.ndarray) -> np.ndarray:
    """1.0 on the days from a customer's first day on, else 0.0 (customers x days)."""
    return (days[None, :] >= _first_day(lat)[:, None]).astype(np.float64)


def _engagement(lat: pd.DataFrame, days: np.ndarray) -> np.ndarray:
    """Engagement on each day: baseline plus drift since the customer's first day."""
    since = np.maximum(days[None, :] - _first_day(lat)[:, None], 0) / 180.0
    return lat["engagement"].to_numpy()[:, None] + lat["engagement_slope"].to_numpy()[:, None] * since


def _hazard(lat: pd.DataFrame, days: np.ndarray) -> np.ndarray:
    """Daily cancellation hazard (customers x days); the one formula the truth is built on."""
    tenure = np.maximum(days[None, :] - lat["signup_day_float"].to_numpy()[:, None], 0)
    linear = (
        -0.8 * _engagement(lat, days)
        + 0.5 * lat["friction"].to_numpy()[:, None]
        + 1.2 * lat["card_problem"].to_numpy()[:, None]
    )
    return 0.0008 * np.exp(linear) * (1.0 + 2.0 * np.exp(-tenure / 90.0))


def _events(rng: np.random.Generator, config: SimulationConfig, lat: pd.DataFrame) -> pd.DataFrame:
    """Generate the chunk's events: Poisson logins and tickets, monthly bills, cancellations."""
    days = np.arange(config.days)
    churn = lat["churn_day"].to_numpy()
    alive = _alive_from(lat, days) * (days[None, :] < churn[:, None])
    eng = _engagement(lat, days)
    logins = rng.poisson(config.login_rate * np.exp(0.7 * eng) * alive)
    tickets = rng.poisson(config.ticket_rate * np.exp(0.9 * lat["friction"].to_numpy()[:, None] - 0.2 * eng) * alive)
    parts = [_expand(rng, lat, logins, 0), _expand(rng, lat, tickets, 1), _bills(rng, lat, alive)]
    ids = lat["customer_id"].to_numpy()
    cancelled = churn < config.days
    parts.append((ids[cancelled], churn[cancelled] + rng.random(cancelled.sum()), np.full(cancelled.sum(), 4), np.full(cancelled.sum(), np.nan)))
    cust, when, code, amount = (np.concatenate(col) for col in zip(*parts, strict=True))
    order = np.lexsort((when, cust))
    return pd.DataFrame(
        {
            "customer_id": cust[order],
            "event_time": _to_time(config, when[order]),
            "event_type": pd.Categorical.from_codes(code[order].astype(np.int8), EVENT_TYPES).astype(str),
            "amount": amount[order],
        }
    )


def _expand(rng: np.random.Generator, lat: pd.DataFrame, counts: np.ndarray, code: int) -> tuple[np.ndarray, ...]:
    """Turn a customers x days count matrix into one row per event at a random time of day."""
    row, day = np.nonzero(counts)
    reps = counts[row, day]
    row, day = np.repeat(row, reps), np.repeat(day, reps)
    when = day + rng.random(len(day))
    return lat["customer_id"].to_numpy()[row], when, np.full(len(row), code), np.full(len(row), np.nan)


def _bills(rng: np.random.Generator, lat: pd.DataFrame, alive: np.ndarray) -> tuple[np.ndarray, ...]:
    """Monthly bills on each customer's billing day: a payment, or a failure for risky cards."""
    days = np.arange(alive.shape[1])
    due = ((days[None, :] - lat["billing_offset"].to_numpy()[:, None]) % 30 == 0) & (alive > 0)
    row, day = np.nonzero(due)
    p_fail = np.where(lat["card_problem"].to_numpy()[row] == 1, 0.6, 0.03)
    failed = rng.random(len(row)) < p_fail
    amount = PRICES[lat["plan_code"].to_numpy()[row]]
    when = day + rng.random(len(row))
    return lat["customer_id"].to_numpy()[row], when, np.where(failed, 3, 2), amount


def _to_time(config: SimulationConfig, day: np.ndarray) -> np.ndarray:
    """Convert fractional days since ``start`` to microsecond timestamps."""
    origin = np.datetime64(config.start, "us").astype(np.int64)
    return (origin + np.round(np.asarray(day) * _US_PER_DAY).astype(np.int64)).astype("datetime64[us]")


def main(argv: list[str] | None = None) -> None:
    """`python -m kpiml.snapshots.simulate FOLDER [--customers N] [--seed S]` for demos."""
    import argparse

    parser = argparse.ArgumentParser(description="Write a simulated subscription business as Parquet.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    entities, events = simulate_to_parquet(SimulationConfig(n_customers=args.customers, seed=args.seed), args.folder)
    print(f"wrote {entities} and {events}/ (entity id customer_id, signup_date; event_time, event_type, amount; label event 'cancel')")


if __name__ == "__main__":
    main()
