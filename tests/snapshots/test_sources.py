"""Event and entity sources: DuckDB files, a real PostgreSQL table, and pointing at the wrong thing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from kpiml.errors import KpimlError
from kpiml.snapshots import build_snapshots, snapshot_spec_from_dict
from kpiml.snapshots.simulate import Simulation
from kpiml.snapshots.sources import split_location


def build(raw: dict) -> pd.DataFrame:
    return pd.read_parquet(build_snapshots(snapshot_spec_from_dict(raw)).path)


def test_url_fragment_names_the_table() -> None:
    """Check that 'URL#table' splits into the URL and the table, an explicit table winning."""
    assert split_location("postgresql://u@h/db#events", None) == ("postgresql://u@h/db", "events")
    assert split_location("postgresql://u@h/db#events", "other") == ("postgresql://u@h/db", "other")
    assert split_location("data/events.parquet", None) == ("data/events.parquet", None)


def test_duckdb_file_table_gives_the_parquet_result(tiny: dict[str, Path], tmp_path: Path, spec_dict: Callable[..., dict]) -> None:
    """Check that events read from a table in a DuckDB file give the same snapshots as from Parquet."""
    with duckdb.connect(str(tmp_path / "shop.duckdb")) as con:
        con.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)", [str(tiny["events"])])
    expected = build(spec_dict(tiny["entities"], tiny["events"], tmp_path / "a.parquet"))
    got = build(spec_dict(tiny["entities"], f"{tmp_path / 'shop.duckdb'}#events", tmp_path / "b.parquet"))
    pd.testing.assert_frame_equal(expected, got)


SOURCE_MISTAKES = [
    ("missing.parquet", KpimlError, "missing.parquet does not exist"),
    ("empty_folder", KpimlError, "holds no CSV or Parquet files"),
    ("shop.duckdb", KpimlError, "is a database but names no table"),
    ("shop.duckdb#evnts", KpimlError, "Table 'evnts' is not in .*use .*#events"),
]


@pytest.mark.parametrize(("source", "error", "message"), SOURCE_MISTAKES)
def test_wrong_sources_raise_kpiml_errors(tiny: dict[str, Path], tmp_path: Path, spec_dict: Callable[..., dict], source: str, error: type, message: str) -> None:
    """Check that a missing file, an empty folder or a database without the right table raises a KpimlError."""
    (tmp_path / "empty_folder").mkdir()
    with duckdb.connect(str(tmp_path / "shop.duckdb")) as con:
        con.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)", [str(tiny["events"])])
    with pytest.raises(error, match=message):
        build(spec_dict(tiny["entities"], str(tmp_path / source), tmp_path / "s.parquet"))


@pytest.fixture
def pg_events(postgres_url: str, sim: Simulation) -> Iterator[tuple[str, pd.DataFrame]]:
    """The events of 300 simulated customers in a fresh PostgreSQL table (dropped afterwards)."""
    import sqlalchemy

    events = sim.events[sim.events["customer_id"] <= 300].reset_index(drop=True)
    table = f"snap_events_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        events.to_sql(table, engine, index=False, chunksize=5_000, method="multi")
        yield table, events
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP TABLE IF EXISTS "{table}"'))
        engine.dispose()


@pytest.mark.postgres
def test_postgres_event_table_gives_the_parquet_result(postgres_url: str, pg_events: tuple[str, pd.DataFrame], sim: Simulation, tmp_path: Path, spec_dict: Callable[..., dict]) -> None:
    """Check that snapshots built from a PostgreSQL event table equal those built from the same events in Parquet."""
    table, events = pg_events
    entities = sim.entities[sim.entities["customer_id"] <= 300]
    entities.to_parquet(tmp_path / "entities.parquet")
    events.to_parquet(tmp_path / "events.parquet")
    cutoffs = {"cutoffs": [pd.Timestamp(d).date() for d in ("2024-01-01", "2024-04-01", "2024-07-01")]}
    expected = build(spec_dict(tmp_path / "entities.parquet", tmp_path / "events.parquet", tmp_path / "a.parquet", **cutoffs))
    got = build(spec_dict(tmp_path / "entities.parquet", f"{postgres_url}#{table}", tmp_path / "b.parquet", **cutoffs))
    assert len(expected) > 300
    pd.testing.assert_frame_equal(expected, got)
