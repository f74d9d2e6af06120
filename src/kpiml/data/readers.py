"""Read a business table from wherever it lives: CSV, Parquet, DuckDB, SQLite or a SQL server.

Every stage (plan, train, predict, monitor) reads its data through these three functions, so
all sources give the same pandas dtypes and the same kind of message when the user points at
the wrong thing. DuckDB is the engine for files (parallel, typed, never Python objects);
SQLite files and database URLs go through SQLAlchemy because DuckDB's scanners for them are
extensions that cannot be downloaded everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pandas as pd

from kpiml.data import _csv, _duck, _sql
from kpiml.data._files import magic_kind, read_head, require_exists, suffix_error, unreadable
from kpiml.errors import KpimlError

SourceKind = Literal["csv", "parquet", "duckdb", "sqlite", "sql"]

_TEXT_SUFFIXES = {".csv", ".tsv", ".txt"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_DATABASE_SUFFIXES = {".duckdb": "duckdb", ".ddb": "duckdb", ".db": "duckdb", ".sqlite": "sqlite", ".sqlite3": "sqlite"}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")

__all__ = ["SourceKind", "iter_batches", "read_table", "source_kind"]


def _check_table_query(table: str | None, query: str | None) -> None:
    if table is not None and query is not None:
        raise KpimlError(
            "Both a table and a query were given",
            expected="either --table NAME or --query SQL",
            got=f"table '{table}' and a query",
            fix="keep one: a query can select from the table itself",
        )
    if query is not None and not query.strip():
        raise KpimlError("The query is empty", expected="a SELECT statement", got="''", fix="write the query or drop --query")


def _database_kind(path: Path, by_suffix: SourceKind) -> SourceKind:
    """Trust the file's first bytes over its suffix: '.db' is used by DuckDB and SQLite alike."""
    head = read_head(path, 64)
    found = magic_kind(head)
    if found is not None and found[0] in ("duckdb", "sqlite"):
        return found[0]  # type: ignore[return-value]
    if not head:
        raise KpimlError(f"'{path}' is empty", expected="a DuckDB or SQLite database file", got="0 bytes",
                         fix="point kpiml at the database file that holds the data")
    what = f"it is {found[1]}" if found else "it is neither a DuckDB nor a SQLite database"
    raise unreadable(path, what, f"check that this is the database file itself (its suffix suggests {by_suffix}); it may be damaged or in another format")


def _folder_kind(path: Path) -> SourceKind:
    if _duck.parquet_files(str(path)):
        return "parquet"
    present = sorted(p.name for p in path.iterdir())
    listed = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "") if present else "nothing"
    raise KpimlError(
        f"Cannot read the folder '{path}': it holds no Parquet files",
        expected="a folder with .parquet files (searched recursively), or a single file",
        got=listed,
        fix="pass one CSV file directly, or write the data as Parquet files into the folder",
    )


def source_kind(location: str | Path, table: str | None = None, query: str | None = None) -> SourceKind:
    """Say which reader a location needs, from its URL scheme, suffix or first bytes.

    Raises KpimlError for a missing path, an unknown suffix or both table and query given.
    """
    _check_table_query(table, query)
    text = str(location)
    if _URL.match(text):
        return "sql"
    if re.search(r"[*?\[]", text) and not Path(text).exists():
        if Path(text).suffix.lower() in _PARQUET_SUFFIXES:
            return "parquet"
        raise suffix_error(Path(text))
    path = Path(text)
    require_exists(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        return _folder_kind(path)
    if suffix in _TEXT_SUFFIXES:
        return "csv"
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    if suffix in _DATABASE_SUFFIXES:
        return _database_kind(path, _DATABASE_SUFFIXES[suffix])  # type: ignore[arg-type]
    raise suffix_error(path)


def _file_only(kind: SourceKind, location: str, table: str | None, query: str | None) -> None:
    if table is None and query is None:
        return
    raise KpimlError(
        f"'{location}' is a {kind} file: --table and --query apply to databases only",
        expected="no --table or --query for a file",
        got=f"--table {table}" if table is not None else "--query",
        fix="drop --table/--query (or load the file into a DuckDB database and query that)",
    )


def read_table(location: str | Path, *, table: str | None = None, query: str | None = None) -> pd.DataFrame:
    """Read a whole table into pandas.

    location: a .csv/.tsv/.txt file (any of , ; tab | as delimiter, encoding detected), a
    .parquet file, folder of Parquet files or glob, a .duckdb/.db DuckDB file, a
    .sqlite/.sqlite3 SQLite file, or a SQLAlchemy URL (postgresql://..., sqlite:///...).
    For databases give exactly one of table/query; a DuckDB or SQLite file holding a single
    table may omit both. Columns keep their names and order; numbers come back as
    int64/float64, flags as bool, dates as datetime64, text as pandas strings with empty
    strings as missing values.
    """
    kind = source_kind(location, table, query)
    text = str(location)
    if kind == "csv":
        _file_only(kind, text, table, query)
        return _csv.read_csv(Path(text))
    if kind == "parquet":
        _file_only(kind, text, table, query)
        return _duck.read_parquet(text)
    if kind == "duckdb":
        return _duck.read_duckdb(Path(text), table, query)
    url, source, single_ok = _sql_target(kind, text)
    return _sql.read_sql(url, source, table, query, single_ok)


def _sql_target(kind: SourceKind, text: str) -> tuple[str, str, bool]:
    """The SQLAlchemy URL, a name for messages, and whether a lone table may be implied."""
    database = _sql.sqlite_database(text) if kind == "sql" else text
    if kind == "sqlite" or database is not None:
        path = Path(database or text)
        require_exists(path)  # SQLite would otherwise create an empty database there
        return _sql.sqlite_file_url(path), f"SQLite file '{path}'", True
    url = _sql.normalise_url(text)
    return url, f"the database {_sql.safe_url(url)}", False


def iter_batches(location: str | Path, *, table: str | None = None, query: str | None = None, batch_rows: int = 100_000) -> Iterator[pd.DataFrame]:
    """Stream a source in chunks of batch_rows rows, in order, for data larger than memory.

    Every chunk but the last has exactly batch_rows rows. A wrong path or argument raises
    KpimlError at the call; problems inside the data (no rows, duplicate names, bad bytes)
    when the first chunk is asked for.
    Dtypes follow each chunk's values: an integer column with a gap in one chunk is float64
    in that chunk only.
    """
    if batch_rows < 1:
        raise KpimlError("batch_rows must be positive", expected="an integer >= 1", got=str(batch_rows), fix="pass a positive number of rows")
    kind = source_kind(location, table, query)
    return _batches(kind, str(location), table, query, batch_rows)


def _batches(kind: SourceKind, text: str, table: str | None, query: str | None, batch_rows: int) -> Iterator[pd.DataFrame]:
    readers: dict[str, Callable[[], Iterator[pd.DataFrame]]] = {
        "csv": lambda: _csv.iter_csv(Path(text), batch_rows),
        "parquet": lambda: _duck.iter_parquet(text, batch_rows),
        "duckdb": lambda: _duck.iter_duckdb(Path(text), table, query, batch_rows),
    }
    if kind in ("csv", "parquet"):
        _file_only(kind, text, table, query)
    if kind in readers:
        return readers[kind]()
    url, source, single_ok = _sql_target(kind, text)
    return _sql.iter_sql(url, source, table, query, single_ok, batch_rows)
