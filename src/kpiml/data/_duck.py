"""Read Parquet files and DuckDB database files with DuckDB itself.

Both are columnar and typed, so DuckDB hands them to Arrow and pandas without parsing; what is
added here is choosing the table (or running the query), saying which tables exist when the
one asked for does not, and turning engine errors into messages about the user's input.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pandas as pd

from kpiml.data._files import magic_kind, read_head, unreadable
from kpiml.data._frames import (
    arrow_to_pandas,
    check_has_rows,
    check_unique_columns,
    connect,
    rebatch,
)
from kpiml.errors import KpimlError, closest_names


def parquet_files(location: str) -> list[str]:
    """The Parquet files a path, folder or glob stands for (sorted, so row order is stable)."""
    path = Path(location)
    if path.is_dir():
        return sorted(str(p) for p in path.rglob("*.parquet") if p.is_file())
    if glob.has_magic(location):
        return sorted(p for p in glob.glob(location, recursive=True) if Path(p).is_file())
    return [location]


def _parquet_relation(con: duckdb.DuckDBPyConnection, location: str) -> duckdb.DuckDBPyRelation:
    files = parquet_files(location)
    if not files:
        raise KpimlError(
            f"Cannot read '{location}': no Parquet files there",
            expected="a folder or glob matching at least one .parquet file",
            got="no matching files",
            fix="check the folder or pattern (a folder is searched recursively for *.parquet)",
        )
    if len(files) == 1:
        _check_parquet_magic(Path(files[0]))
    # Hive partition folders (region=north/...) become columns: DuckDB detects them from paths.
    return con.sql("SELECT * FROM read_parquet($f, union_by_name=true)", params={"f": files})


def _check_parquet_magic(path: Path) -> None:
    """Name the real format of a file that does not start like Parquet (PAR1)."""
    head = read_head(path, 16)
    found = magic_kind(head)
    if found is not None and found[0] == "parquet":
        return
    what = f"it is {found[1]}" if found else ("it is empty (0 bytes)" if not head else "it is not a Parquet file")
    raise unreadable(path, what, "write it again as Parquet, or give it the suffix of its real format")


def _engine_error(source: str, error: BaseException) -> KpimlError:
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return KpimlError(
        f"Cannot read {source}",
        expected="a readable file in the format its suffix names",
        got=first,
        fix="check that the file is complete and not being written, then retry",
    )


def read_parquet(location: str) -> pd.DataFrame:
    """Read a Parquet file, a folder of Parquet files (hive partitions included) or a glob."""
    with connect() as con:
        try:
            table = _parquet_relation(con, location).to_arrow_table()
        except (duckdb.Error, OSError) as exc:
            raise _engine_error(f"'{location}'", exc) from None
    check_unique_columns(table.column_names, f"'{location}'")
    check_has_rows(table.num_rows, f"'{location}'")
    return arrow_to_pandas(table)


def iter_parquet(location: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Stream Parquet in chunks of batch_rows rows without loading the whole data set."""
    with connect() as con:
        yield from _stream(lambda: _parquet_relation(con, location), f"'{location}'", batch_rows)


def _stream(make: Callable[[], duckdb.DuckDBPyRelation], source: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Yield exact-size frames from a relation, with engine errors as KpimlError."""
    rows = 0
    try:
        relation = make()
        check_unique_columns(relation.columns, source)
        for table in rebatch(iter(relation.to_arrow_reader(batch_rows)), batch_rows):
            rows += table.num_rows
            yield arrow_to_pandas(table)
    except (duckdb.Error, OSError) as exc:
        raise _engine_error(source, exc) from None
    check_has_rows(rows, source)


# ---- DuckDB database files -------------------------------------------------------------


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file read-only: kpiml never changes the user's database."""
    try:
        return connect(str(path), read_only=True)
    except duckdb.Error as exc:
        message = str(exc)
        if "lock" in message.lower():
            raise unreadable(path, "another program holds it open for writing (file lock)",
                             "close the other DuckDB session (or copy the file) and retry") from None
        raise unreadable(path, message.splitlines()[0], "check that it is a DuckDB database file written by DuckDB 1.x or newer") from None


def duckdb_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables and views of the open file, schema-qualified outside 'main'."""
    rows = con.sql(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() "
        "AND table_schema NOT IN ('information_schema', 'pg_catalog') ORDER BY 1, 2"
    ).fetchall()
    return [name if schema == "main" else f"{schema}.{name}" for schema, name in rows]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_missing(source: str, table: str, tables: list[str]) -> KpimlError:
    """The error for a table that does not exist, listing the ones that do."""
    similar = closest_names(table, tables)
    hint = f" (did you mean {', '.join(similar)}?)" if similar else ""
    return KpimlError(
        f"{source} has no table '{table}'{hint}",
        expected="one of its tables: " + (", ".join(tables) if tables else "(it has none)"),
        got=f"'{table}'",
        fix="pass one of the listed names with --table, or a --query",
    )


def needs_table(source: str, tables: list[str]) -> KpimlError:
    """The error for a database source given neither a table nor a query."""
    return KpimlError(
        f"{source} holds {len(tables)} tables; kpiml needs to know which one to read",
        expected="--table NAME or --query SQL",
        got="neither; tables there: " + (", ".join(tables) if tables else "(none)"),
        fix="pass --table with one of the listed names, or a --query",
    )


def choose_table(source: str, table: str | None, tables: list[str]) -> str:
    """The table to read: the one asked for (any letter case), or the only one there is."""
    if table is None:
        if len(tables) == 1:
            return tables[0]
        raise needs_table(source, tables)
    exact = [name for name in tables if name == table]
    folded = [name for name in tables if name.lower() == table.lower()]
    if exact or len(folded) == 1:
        return (exact or folded)[0]
    raise table_missing(source, table, tables)


def _duckdb_relation(con: duckdb.DuckDBPyConnection, path: Path, table: str | None, query: str | None) -> duckdb.DuckDBPyRelation:
    source = f"DuckDB file '{path}'"
    if query is not None:
        try:
            relation = con.sql(query)
        except duckdb.Error as exc:
            raise query_error(source, exc) from None
        if relation is None:
            raise query_error(source, "the statement returns no rows (is it a SELECT?)")
        return relation
    name = choose_table(source, table, duckdb_tables(con))
    return con.sql(f"SELECT * FROM {'.'.join(_quote(part) for part in name.split('.', 1))}")


def query_error(source: str, error: BaseException | str) -> KpimlError:
    """The error for SQL the database refused, passing on the database's own words."""
    lines = [line.strip() for line in str(error).strip().splitlines()]
    useful = [line for line in lines if line and not line.startswith("LINE ") and line.strip("^ ")]
    message = " ".join(useful[:2])
    return KpimlError(
        f"The query failed on {source}",
        expected="a SELECT statement valid for that database",
        got=message,
        fix="correct the SQL in --query (try it in the database's own shell first)",
    )


def read_duckdb(path: Path, table: str | None, query: str | None) -> pd.DataFrame:
    """Read one table (or a query's result) from a DuckDB database file."""
    source = f"DuckDB file '{path}'"
    with _connect(path) as con:
        try:
            table_data = _duckdb_relation(con, path, table, query).to_arrow_table()
        except duckdb.Error as exc:
            raise query_error(source, exc) from None
    check_unique_columns(table_data.column_names, source)
    check_has_rows(table_data.num_rows, source)
    return arrow_to_pandas(table_data)


def iter_duckdb(path: Path, table: str | None, query: str | None, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Stream a table or query result from a DuckDB file in chunks."""
    with _connect(path) as con:
        yield from _stream(lambda: _duckdb_relation(con, path, table, query), f"DuckDB file '{path}'", batch_rows)
