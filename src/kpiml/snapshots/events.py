"""Normalise every event table into one compact DuckDB table of (entity, day, kind, value).

Feature SQL then works on small integers instead of raw strings and timestamps: a kind
is a SMALLINT key (one per event type, or per untyped table), a day is an integer day
number. Day resolution is exact for the features because cutoffs are dates (midnight): an
event is before the cutoff exactly when its day is. The label keeps full timestamps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kpiml.errors import KpimlError, closest_names
from kpiml.snapshots.options import EventTable, SnapshotSpec
from kpiml.snapshots.sources import (
    OpenedSource,
    check_times,
    open_source,
    quote,
    split_location,
    time_expression,
)

MAX_KINDS_PER_TABLE = 20  # rarer types are pooled as '<table>_other' to bound the feature count
LABEL_KIND = -1


@dataclass(frozen=True)
class EventKind:
    """One event type that becomes a family of features."""

    key: int
    name: str  # identifier-safe, used in feature names
    events: int
    has_value: bool


@dataclass
class EventTableInfo:
    """An opened event table and the SQL pieces that read it."""

    index: int
    source: OpenedSource
    options: EventTable
    id_sql: str
    time_sql: str
    type_sql: str  # text of the event type (the table's name when untyped)
    value_sql: str


def identifier(text: str) -> str:
    """Lower-case `text` into a feature-name-safe word ('Payment Failure' -> 'payment_failure')."""
    word = re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "missing"
    return f"t_{word}" if word[0].isdigit() else word


def table_name(options: EventTable) -> str:
    """The name an untyped table's events get: its `name`, else its table or file name."""
    if options.name:
        return options.name
    location, table = split_location(options.source, options.table)
    if table:
        return table
    return Path(location.rstrip("/")).name.split(".")[0]


def describe_table(source: OpenedSource, index: int, options: EventTable, id_column: str) -> EventTableInfo:
    """Check an event table's columns and build the SQL that reads them."""
    id_sql = _require_id(source, id_column)
    time_sql = time_expression(source, options.time_column, "--event-time")
    type_sql = f"'{table_name(options).replace(chr(39), chr(39) * 2)}'"
    if options.type_column:
        type_sql = f"coalesce(CAST({source.require(options.type_column, '--event-type')} AS VARCHAR), '')"
    value_sql = "CAST(NULL AS DOUBLE)"
    if options.value_column:
        value_sql = _value_sql(source, options.value_column)
    return EventTableInfo(index, source, options, id_sql, time_sql, type_sql, value_sql)


def _require_id(source: OpenedSource, id_column: str) -> str:
    """The entity id column of an event table, which must carry the entity table's name."""
    if id_column in source.columns:
        return quote(id_column)
    hints = closest_names(id_column, list(source.columns))
    raise KpimlError(
        f"Event table {source.label} has no entity id column '{id_column}' (--entity-id)",
        expected="the entity id under the same name in the entity table and every event table",
        got=f"columns {', '.join(list(source.columns)[:20])}",
        fix=f"rename '{hints[0]}' to '{id_column}' in the event table" if hints else f"add the '{id_column}' column to the event table",
    )


def _value_sql(source: OpenedSource, column: str) -> str:
    """SQL for a numeric value column, refusing text that is not numbers."""
    quoted = source.require(column, "--event-value")
    kind = source.columns[column].upper()
    numeric = ("INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "UBIGINT", "UINTEGER")
    if not kind.startswith(numeric):
        raise KpimlError(
            f"Column '{column}' (--event-value) in {source.label} is {kind}, not numeric",
            expected="amounts, durations or other numbers",
            got=kind,
            fix="point --event-value at a numeric column, or leave it out",
        )
    return f"CAST({quoted} AS DOUBLE)"


def discover_kinds(con: duckdb.DuckDBPyConnection, tables: list[EventTableInfo]) -> list[tuple[int, str, int, int]]:
    """Count events per (table, raw type): rows of (table index, raw type, events, valued events)."""
    rows: list[tuple[int, str, int, int]] = []
    for t in tables:
        check_times(con, t.source, t.options.time_column, "--event-time")
        found = con.execute(
            f"SELECT {t.type_sql} AS raw, count(*) AS n, count({t.value_sql}) AS nv "
            f"FROM {quote(t.source.view)} GROUP BY ALL ORDER BY n DESC, raw"
        ).fetchall()
        rows += [(t.index, str(raw), int(n), int(nv)) for raw, n, nv in found]
    return rows


def assign_kinds(rows: list[tuple[int, str, int, int]], tables: list[EventTableInfo], label_event: str | None) -> tuple[list[EventKind], list[tuple[int, str, int]]]:
    """Give each (table, raw type) a kind key; return feature kinds and the mapping rows.

    Types beyond a table's 20 most frequent are pooled as '<table>_other'; a name used by
    two tables is prefixed with the table's name. The label event type maps to LABEL_KIND:
    it defines the label and the population, and as a feature it would be zero for every
    active entity (they have not churned yet).
    """
    if label_event is not None:
        check_label_event(rows, label_event)
    features = [r for r in rows if r[1] != label_event]
    base: dict[tuple[int, str], str] = {}
    for index in {r[0] for r in features}:
        ranked = sorted((r for r in features if r[0] == index), key=lambda r: -r[2])
        for rank, (_, raw, _, _) in enumerate(ranked):
            word = raw if rank < MAX_KINDS_PER_TABLE else f"{table_name(tables[index].options)}_other"
            base[(index, raw)] = identifier(word)
    shared = {n for n in base.values() if len({i for (i, _), m in base.items() if m == n}) > 1}
    names: dict[str, int] = {}
    totals: dict[str, list[int]] = {}
    mapping = [(i, raw, LABEL_KIND) for i, raw, _, _ in rows if raw == label_event]
    for index, raw, n, nv in features:
        name = base[(index, raw)]
        if name in shared:
            name = identifier(f"{table_name(tables[index].options)}_{name}")
        key = names.setdefault(name, len(names))
        mapping.append((index, raw, key))
        total = totals.setdefault(name, [0, 0])
        total[0], total[1] = total[0] + n, total[1] + nv
    kinds = [EventKind(key, name, totals[name][0], totals[name][1] > 0) for name, key in names.items()]
    return sorted(kinds, key=lambda k: (-k.events, k.key)), mapping


def check_label_event(rows: list[tuple[int, str, int, int]], label_event: str) -> None:
    """Refuse a label event type that no event table contains, listing the types there are."""
    types = sorted({raw for _, raw, _, _ in rows})
    if label_event in types:
        return
    hints = closest_names(label_event, types)
    raise KpimlError(
        f"Label event '{label_event}' does not occur in the event tables",
        expected=f"one of the event types found: {', '.join(types[:30])}",
        got=f"'{label_event}'",
        fix=f"use --label-event {hints[0]}" if hints else "name an event type listed above (or the name of an untyped event table)",
    )


def materialise(con: duckdb.DuckDBPyConnection, tables: list[EventTableInfo], mapping: list[tuple[int, str, int]], id_type: str, keep_times: bool) -> None:
    """Create `ev(eid, day, tk, val)` of feature events and `label_ev(eid, ts)` of label events.

    With `keep_times` (inactivity labels) it also creates `act(eid, ts)` of every event.
    """
    con.execute("CREATE TABLE kinds_map (tbl INTEGER, raw VARCHAR, tk SMALLINT)")
    con.executemany("INSERT INTO kinds_map VALUES (?, ?, ?)", [list(m) for m in mapping])
    selects = [
        f"SELECT CAST({t.id_sql} AS {id_type}) AS eid, {t.time_sql} AS ts, m.tk, {t.value_sql} AS val "
        f"FROM {quote(t.source.view)} JOIN kinds_map m ON m.tbl = {t.index} AND m.raw = {t.type_sql}"
        for t in tables
    ]
    union = " UNION ALL ".join(selects)
    con.execute(f"CREATE TEMP VIEW ev_all AS SELECT * FROM ({union}) WHERE ts IS NOT NULL AND eid IS NOT NULL")
    # Sorted by entity: every later GROUP BY eid then updates one entity's aggregates for a
    # run of rows in a row (measured: three times faster than on time-ordered events).
    con.execute(
        f"CREATE TABLE ev AS SELECT eid, CAST(CAST(ts AS DATE) - DATE '1970-01-01' AS INTEGER) AS day, tk, val "
        f"FROM ev_all WHERE tk <> {LABEL_KIND} ORDER BY eid"
    )
    con.execute(f"CREATE TABLE label_ev AS SELECT eid, ts FROM ev_all WHERE tk = {LABEL_KIND}")
    if keep_times:
        con.execute("CREATE TABLE act AS SELECT eid, ts FROM ev_all")


def open_event_tables(con: duckdb.DuckDBPyConnection, spec: SnapshotSpec, work: Path) -> list[EventTableInfo]:
    """Open and check every event table of the spec."""
    infos = []
    for index, options in enumerate(spec.events):
        source = open_source(con, options.source, options.table, f"src_events_{index}", work)
        infos.append(describe_table(source, index, options, spec.entities.id_column))
    return infos
