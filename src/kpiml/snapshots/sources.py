"""Open entity and event sources as DuckDB views, and check the columns the build names.

Files (CSV or Parquet, single or a folder of parts) are scanned by DuckDB itself, so a
100-million-row event table streams from disk instead of passing through pandas. Database
tables (and SQLite files) are streamed through kpiml's shared reader
(`kpiml.data.readers.iter_batches`) into Parquet parts; a DuckDB database file is attached
directly. A database source names its table
either in the option's `table` field or after a '#': `postgresql://host/db#events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from kpiml.errors import KpimlError, closest_names

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
DUCKDB_SUFFIXES = (".duckdb", ".ddb")
BATCH_ROWS = 500_000
TEMPORAL_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")


@dataclass(frozen=True)
class OpenedSource:
    """A source opened as the DuckDB view `view`, with its column names and types."""

    view: str
    label: str  # how the user named it, for messages
    columns: dict[str, str]

    def require(self, column: str, option: str) -> str:
        """Return `column` quoted for SQL, or raise naming the option and the closest columns."""
        if column not in self.columns:
            hints = closest_names(column, list(self.columns))
            raise KpimlError(
                f"Column '{column}' ({option}) is not in {self.label}",
                expected=f"one of its columns: {', '.join(list(self.columns)[:20])}",
                got=f"'{column}'",
                fix=f"use {option} {hints[0]}" if hints else f"check {option} against the file's header",
            )
        return quote(column)


def quote(name: str) -> str:
    """Quote an identifier for DuckDB, so any column name is safe inside generated SQL."""
    return '"' + name.replace('"', '""') + '"'


def split_location(location: str, table: str | None) -> tuple[str, str | None]:
    """Separate 'URL#table' (or 'file.duckdb#table') into location and table, `table` winning."""
    if "#" in location and ("://" in location or not Path(location).exists()):
        base, _, fragment = location.rpartition("#")
        return base, table or fragment
    return location, table


def open_source(con: duckdb.DuckDBPyConnection, location: str, table: str | None, view: str, work: Path) -> OpenedSource:
    """Expose `location` as the view `view` in `con` and describe its columns.

    `work` is a scratch folder for database tables copied to Parquet on the way in.
    """
    location, table = split_location(location, table)
    if "://" in location and not location.startswith("file://"):
        _open_database(con, location, table, view, work)
    else:
        _open_file(con, Path(location.removeprefix("file://")), table, view, work)
    described = con.execute(f"DESCRIBE {quote(view)}").fetchall()
    label = f"{location}#{table}" if table else location
    return OpenedSource(view=view, label=label, columns={row[0]: str(row[1]) for row in described})


def _open_file(con: duckdb.DuckDBPyConnection, path: Path, table: str | None, view: str, work: Path) -> None:
    """Open a CSV/Parquet file or folder with DuckDB's own scanners (streaming, out of core)."""
    if not path.exists():
        raise KpimlError(f"Source {path} does not exist", expected="a CSV or Parquet file, a folder of them, or a database URL", fix="check the path")
    files = _folder_files(path) if path.is_dir() else [path]
    name = files[0].name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        con.read_parquet([str(f) for f in files], union_by_name=True).create_view(view)
    elif name.endswith(CSV_SUFFIXES):
        con.read_csv([str(f) for f in files], union_by_name=True).create_view(view)
    elif name.endswith(DUCKDB_SUFFIXES):
        _attach_duckdb(con, path, table, view)
    else:
        _read_with_reader(con, str(path), table, view, work)


def _folder_files(folder: Path) -> list[Path]:
    """All Parquet parts of a folder (or, without any, its CSV files), in name order."""
    for suffixes in (PARQUET_SUFFIXES, CSV_SUFFIXES):
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))
        if files:
            return files
    raise KpimlError(f"Folder {folder} holds no CSV or Parquet files", expected="files ending in .parquet or .csv", fix="point at the folder that holds the parts")


def _attach_duckdb(con: duckdb.DuckDBPyConnection, path: Path, table: str | None, view: str) -> None:
    """Attach a DuckDB database read-only and expose one of its tables as `view`."""
    if not table:
        raise KpimlError(f"Source {path} is a database but names no table", expected="'FILE#table'", fix=f"use {path}#TABLE")
    alias = f"{view}_db"
    con.execute(f"ATTACH '{_literal(str(path))}' AS {quote(alias)} (READ_ONLY)")
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [alias]).fetchall()]
    if table not in tables:
        hints = closest_names(table, tables)
        raise KpimlError(f"Table '{table}' is not in {path}", expected=f"one of {', '.join(tables)}", got=table, fix=f"use {path}#{hints[0]}" if hints else "check the table name")
    con.execute(f"CREATE VIEW {quote(view)} AS SELECT * FROM {quote(alias)}.{quote(table)}")


def _open_database(con: duckdb.DuckDBPyConnection, url: str, table: str | None, view: str, work: Path) -> None:
    """Read a database table (PostgreSQL, SQLite, ... by SQLAlchemy URL) into DuckDB."""
    if url.startswith("duckdb:///"):
        _attach_duckdb(con, Path(url.removeprefix("duckdb:///")), table, view)
        return
    if not table:
        raise KpimlError(f"Database source {url} names no table", expected="'URL#table'", fix=f"use {url}#TABLE")
    _read_with_reader(con, url, table, view, work)


def _read_with_reader(con: duckdb.DuckDBPyConnection, location: str, table: str | None, view: str, work: Path) -> None:
    """Stream a table through kpiml's shared reader into Parquet parts, then scan those.

    Batches go to disk as they arrive, so a database table larger than memory still loads;
    DuckDB unifies the parts' types (a batch whose integers have gaps arrives as floats).
    """
    from kpiml.data.readers import iter_batches

    folder = work / f"{view}-parts"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, batch in enumerate(iter_batches(location, table=table, batch_rows=BATCH_ROWS)):
        files.append(str(folder / f"part-{i:05d}.parquet"))
        batch.to_parquet(files[-1], index=False)
    con.read_parquet(files, union_by_name=True).create_view(view)


def _literal(text: str) -> str:
    """Escape text for a single-quoted SQL literal (only for DDL, which takes no parameters)."""
    return text.replace("'", "''")


def time_expression(source: OpenedSource, column: str, option: str) -> str:
    """SQL turning `column` into a TIMESTAMP, failing early when it holds no dates."""
    quoted = source.require(column, option)
    kind = source.columns[column].upper()
    if kind.startswith(TEMPORAL_TYPES):
        return f"CAST({quoted} AS TIMESTAMP)"
    if kind == "VARCHAR":
        return f"TRY_CAST({quoted} AS TIMESTAMP)"
    raise KpimlError(
        f"Column '{column}' ({option}) in {source.label} is {kind}, not a date or time",
        expected="dates or timestamps such as 2024-03-01 or 2024-03-01 12:30:00",
        got=kind,
        fix="point the option at a date/time column, or convert epoch numbers to dates first",
    )


def check_times(con: duckdb.DuckDBPyConnection, source: OpenedSource, column: str, option: str) -> None:
    """Refuse a text time column whose values do not parse, quoting a few of them."""
    if source.columns[column].upper() != "VARCHAR":
        return
    quoted = quote(column)
    bad = con.execute(
        f"SELECT {quoted} AS v, count(*) OVER () AS n FROM {quote(source.view)} "
        f"WHERE {quoted} IS NOT NULL AND TRY_CAST({quoted} AS TIMESTAMP) IS NULL LIMIT 3"
    ).fetchall()
    if bad:
        examples = ", ".join(repr(row[0]) for row in bad)
        raise KpimlError(
            f"Column '{column}' ({option}) in {source.label} has values that are not dates or times",
            expected="ISO dates or timestamps such as 2024-03-01 or 2024-03-01 12:30:00",
            got=f"{bad[0][1]} unparseable value(s), e.g. {examples}",
            fix="fix or remove those rows, or convert the column to ISO format",
        )
