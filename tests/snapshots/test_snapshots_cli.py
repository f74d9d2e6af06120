"""`kpiml snapshots` flags: pairing of repeated event options, summary, mistakes."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from kpiml.errors import KpimlError
from kpiml.snapshots import read_snapshot_info
from kpiml.snapshots_cli import snapshots_command, spec_dict_from_flags

app = typer.Typer()
app.command("snapshots")(snapshots_command)


@app.callback()
def _root() -> None:
    """Keep 'snapshots' a sub-command, as in the real CLI."""


def base_args(tiny: dict[str, Path], out: Path) -> list[str]:
    return [
        "snapshots", "--entities", str(tiny["entities"]), "--entity-id", "customer_id", "--entity-time", "signup_date",
        "--events", str(tiny["events"]), "--event-time", "event_time", "--event-type", "event_type", "--event-value", "amount",
        "--label-event", "cancel", "--horizon-days", "30", "--cutoffs", "2024-02-01,2024-03-01,2024-04-01", "--out", str(out),
    ]


def test_cli_writes_the_table_and_a_summary(tiny: dict[str, Path], tmp_path: Path) -> None:
    """Check that the command writes the Parquet file and says how many rows, features and positives it has."""
    out = tmp_path / "snap.parquet"
    result = CliRunner().invoke(app, base_args(tiny, out))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "5 rows" in text and "Label = 1 in 1 rows" in text
    assert len(pd.read_parquet(out)) == 5 and read_snapshot_info(out) is not None


def test_cli_pairs_repeated_event_options_by_position(tiny: dict[str, Path], tmp_path: Path) -> None:
    """Check that a second --events pairs with the second --event-time/--event-type/--event-value ('-' = none)."""
    pd.DataFrame({"customer_id": [2], "called_at": pd.to_datetime(["2024-02-15"])}).to_csv(tmp_path / "calls.csv", index=False)
    args = base_args(tiny, tmp_path / "snap.parquet")
    args += ["--events", str(tmp_path / "calls.csv"), "--event-time", "called_at", "--event-type", "-", "--event-value", "-"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "snap.parquet")
    assert table.loc[(table["customer_id"] == 2) & (table["cutoff"] == pd.Timestamp("2024-03-01")), "calls_count_30d"].item() == 1


def test_one_event_option_applies_to_every_table() -> None:
    """Check that --event-time given once is used for every --events table."""
    raw = spec_dict_from_flags(
        entities="e.csv", entity_id="id", entity_time=None, events=["a.csv", "b.csv"], event_time=["ts"], event_type=["kind", "-"],
        event_value=[], label_event="cancel", label_inactive_days=None, horizon_days=30, cutoffs="monthly", out="s.parquet",
        memory_limit="1GB", threads=None,
    )
    assert [e["time_column"] for e in raw["events"]] == ["ts", "ts"]
    assert [e["type_column"] for e in raw["events"]] == ["kind", None]
    assert [e["value_column"] for e in raw["events"]] == [None, None]


MISTAKES = [
    (["--cutoffs", "2024-02-01,soon"], KpimlError, "--cutoffs holds values that are not dates.*'soon'"),
    (["--horizon-days", "0"], KpimlError, "--horizon-days must be at least 1"),
    (["--event-time", "event_time"], KpimlError, "--event-time is given 2 times for 1 event tables"),
    (["--label-inactive-days", "30"], KpimlError, "exactly one label definition"),
    (["--out", "snap.csv"], KpimlError, "not a .parquet file"),
]


@pytest.mark.parametrize(("extra", "error", "message"), MISTAKES)
def test_cli_mistakes_raise_kpiml_errors(tiny: dict[str, Path], tmp_path: Path, extra: list[str], error: type, message: str) -> None:
    """Check that bad cutoffs, horizon, option pairing, label choice or output name raise a KpimlError."""
    result = CliRunner().invoke(app, base_args(tiny, tmp_path / "snap.parquet") + extra)
    assert isinstance(result.exception, error), result.output
    assert re.search(message, str(result.exception)), str(result.exception)


def test_help_explains_how_repeated_options_pair() -> None:
    """Check that --help says how --event-time/--event-type/--event-value pair with several --events."""
    result = CliRunner().invoke(app, ["snapshots", "--help"])
    assert result.exit_code == 0
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())
    assert "pair with --events by position" in text and "'-'" in text
