"""`kpiml snapshots`: turn raw entity and event tables into a training snapshot table.

A plain function with Typer annotations; `kpiml.cli` registers it with
`app.command("snapshots")(snapshots_command)`. It only parses flags into a
:class:`~kpiml.snapshots.options.SnapshotSpec`, runs the build and prints a summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kpiml.errors import KpimlError

EVENTS_HELP = """Event table: CSV or Parquet file, a folder of them, or a database URL with
'#table' (e.g. postgresql://user@host/db#events). Repeat for several tables. The
--event-time, --event-type and --event-value options pair with --events by position: give
each once to apply it to every table, or once per table in the same order, writing '-' for
a table without a type or value column. An untyped table's events take the file or table
name as their type (so 'cancellations.csv' can be --label-event cancellations)."""


def snapshots_command(
    entities: Annotated[str, typer.Option("--entities", help="Entity table (one row per customer/account): file, folder or URL#table.")],
    entity_id: Annotated[str, typer.Option("--entity-id", help="Entity id column, present in the entity table and every event table.")],
    events: Annotated[list[str], typer.Option("--events", help=EVENTS_HELP)],
    event_time: Annotated[list[str], typer.Option("--event-time", help="Timestamp column of the event table(s); pairs with --events by position.")],
    horizon_days: Annotated[int, typer.Option("--horizon-days", help="Label = 1 when churn happens in (cutoff, cutoff + H days].")],
    out: Annotated[Path, typer.Option("--out", help="Output Parquet file, written atomically.")],
    entity_time: Annotated[str | None, typer.Option("--entity-time", help="Signup/creation time column; tenure counts from it (else from the first event).")] = None,
    event_type: Annotated[list[str] | None, typer.Option("--event-type", help="Event type column(s) ('-' for none); pairs with --events by position.")] = None,
    event_value: Annotated[list[str] | None, typer.Option("--event-value", help="Numeric value column(s) summed and averaged per type ('-' for none).")] = None,
    label_event: Annotated[str | None, typer.Option("--label-event", help="Terminal event type that defines churn, e.g. cancel.")] = None,
    label_inactive_days: Annotated[int | None, typer.Option("--label-inactive-days", help="Churn = N days without any event (instead of --label-event).")] = None,
    cutoffs: Annotated[str, typer.Option("--cutoffs", help="'monthly' or dates separated by commas, e.g. 2024-02-01,2024-03-01.")] = "monthly",
    memory_limit: Annotated[str, typer.Option("--memory-limit", help="DuckDB memory limit; larger work spills to a temporary folder.")] = "4GB",
    threads: Annotated[int | None, typer.Option("--threads", help="DuckDB threads (default: all cores).")] = None,
) -> None:
    """Build one row per (entity, cutoff) with point-in-time features and a churn label."""
    from kpiml.snapshots.build import build_snapshots

    raw = spec_dict_from_flags(
        entities=entities, entity_id=entity_id, entity_time=entity_time, events=events, event_time=event_time,
        event_type=event_type or [], event_value=event_value or [], label_event=label_event,
        label_inactive_days=label_inactive_days, horizon_days=horizon_days, cutoffs=cutoffs, out=str(out),
        memory_limit=memory_limit, threads=threads,
    )
    from kpiml.snapshots.options import snapshot_spec_from_dict

    result = build_snapshots(snapshot_spec_from_dict(raw))
    _print_summary(result)


def spec_dict_from_flags(**flags: Any) -> dict[str, Any]:
    """Turn the flags into the dict a SnapshotSpec validates (pairing repeated event options)."""
    from kpiml.snapshots.cutoffs import parse_cutoffs

    if flags["horizon_days"] < 1:
        raise KpimlError("Option --horizon-days must be at least 1 day", expected="a whole number of days >= 1", got=str(flags["horizon_days"]), fix="e.g. --horizon-days 30")
    if (flags["label_event"] is None) == (flags["label_inactive_days"] is None):
        raise KpimlError("Give exactly one label definition", expected="--label-event TYPE or --label-inactive-days N", got="both" if flags["label_event"] else "neither", fix="e.g. --label-event cancel")
    n = len(flags["events"])
    times = _paired(flags["event_time"], n, "--event-time", required=True)
    types = _paired(flags["event_type"], n, "--event-type", required=False)
    values = _paired(flags["event_value"], n, "--event-value", required=False)
    return {
        "entities": {"source": flags["entities"], "id_column": flags["entity_id"], "time_column": flags["entity_time"]},
        "events": [
            {"source": src, "time_column": t, "type_column": ty, "value_column": v}
            for src, t, ty, v in zip(flags["events"], times, types, values, strict=True)
        ],
        "label": {"event": flags["label_event"], "inactive_days": flags["label_inactive_days"], "horizon_days": flags["horizon_days"]},
        "cutoffs": parse_cutoffs(flags["cutoffs"]),
        "out": flags["out"],
        "memory_limit": flags["memory_limit"],
        "threads": flags["threads"],
    }


def _paired(values: list[str], n: int, option: str, required: bool) -> list[str | None]:
    """Spread an option over n event tables: none, one for all, or one per table ('-' = none)."""
    if not values and not required:
        return [None] * n
    if len(values) == 1:
        values = values * n
    if len(values) != n:
        raise KpimlError(
            f"Option {option} is given {len(values)} times for {n} event tables",
            expected=f"{option} once (for every table) or {n} times (one per --events, in order)",
            got=", ".join(values),
            fix=f"repeat {option} once per --events, writing '-' where a table has no such column",
        )
    out = [None if v == "-" else v for v in values]
    if required and None in out:
        raise KpimlError(f"Option {option} cannot be '-'", expected="a timestamp column for every event table", fix=f"name the time column of each table with {option}")
    return out


def _print_summary(result: Any) -> None:
    """Tell the user what was written, in a few lines."""
    from rich.console import Console

    console = Console()
    share = result.positives / result.rows if result.rows else 0.0
    console.print(f"[bold]Wrote {result.path}[/bold]: {result.rows:,} rows, {len(result.features)} features, {len(result.cutoffs)} cutoffs ({result.cutoffs[0]} to {result.cutoffs[-1]}).")
    console.print(f"Label = 1 in {result.positives:,} rows ({share:.1%}).")
    for warning in result.warnings:
        console.print(f"[yellow]Warning:[/yellow] {warning}")
    console.print(f"Next: kpiml plan {result.path} --target label")
