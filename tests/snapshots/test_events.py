"""Event kinds: names, pooling of rare types, collisions between tables, the label kind."""

from __future__ import annotations

import pytest

from kpiml.errors import KpimlError
from kpiml.snapshots.events import (
    LABEL_KIND,
    MAX_KINDS_PER_TABLE,
    EventTableInfo,
    assign_kinds,
    identifier,
    table_name,
)
from kpiml.snapshots.options import EventTable
from kpiml.snapshots.sources import OpenedSource


def info(index: int, source: str, name: str | None = None) -> EventTableInfo:
    options = EventTable(source=source, time_column="ts", name=name)
    return EventTableInfo(index, OpenedSource("v", source, {}), options, "", "", "", "")


@pytest.mark.parametrize(("raw", "word"), [("Payment Failure", "payment_failure"), ("3ds-check", "t_3ds_check"), ("", "missing"), ("Ünïcode!", "n_code")])
def test_identifier_makes_safe_names(raw: str, word: str) -> None:
    """Check that event types become lower-case identifiers usable in column names."""
    assert identifier(raw) == word


def test_table_name_comes_from_option_table_or_file() -> None:
    """Check that an untyped table is named by its `name`, its database table, or its file stem."""
    assert table_name(EventTable(source="data/calls.csv.gz", time_column="t")) == "calls"
    assert table_name(EventTable(source="postgresql://h/db#tickets", time_column="t")) == "tickets"
    assert table_name(EventTable(source="x.csv", time_column="t", name="visits")) == "visits"


def test_kinds_sorted_by_volume_and_label_kind_excluded() -> None:
    """Check that kinds come most frequent first and the label event maps to the label kind."""
    rows = [(0, "login", 100, 0), (0, "payment", 10, 10), (0, "cancel", 3, 0)]
    kinds, mapping = assign_kinds(rows, [info(0, "events.parquet")], "cancel")
    assert [k.name for k in kinds] == ["login", "payment"] and kinds[1].has_value
    assert (0, "cancel", LABEL_KIND) in mapping


def test_rare_types_are_pooled_per_table() -> None:
    """Check that types beyond a table's most frequent ones share one '<table>_other' kind."""
    rows = [(0, f"type{i}", 1_000 - i, 0) for i in range(MAX_KINDS_PER_TABLE + 5)]
    kinds, _ = assign_kinds(rows, [info(0, "clicks.parquet")], None)
    assert len(kinds) == MAX_KINDS_PER_TABLE + 1
    assert next(k for k in kinds if k.name == "clicks_other").events == sum(1_000 - i for i in range(MAX_KINDS_PER_TABLE, MAX_KINDS_PER_TABLE + 5))


def test_same_type_in_two_tables_is_prefixed() -> None:
    """Check that a type name used by two tables is prefixed with each table's name."""
    rows = [(0, "open", 5, 0), (1, "open", 7, 0), (1, "close", 2, 0)]
    kinds, _ = assign_kinds(rows, [info(0, "mail.csv"), info(1, "app.csv")], None)
    assert sorted(k.name for k in kinds) == ["app_open", "close", "mail_open"]


def test_missing_label_event_lists_the_types() -> None:
    """Check that a label event absent from every table raises a KpimlError listing the types there are."""
    with pytest.raises(KpimlError, match=r"one of the event types found: login, payment.*--label-event login"):
        assign_kinds([(0, "login", 5, 0), (0, "payment", 1, 1)], [info(0, "e.csv")], "logn")
