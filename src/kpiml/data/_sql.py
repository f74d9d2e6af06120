"""Read tables from SQL databases through SQLAlchemy (PostgreSQL via psycopg 3, and SQLite).

DuckDB's postgres and sqlite scanners are extensions that cannot be downloaded everywhere
kpiml runs, so these sources go through SQLAlchemy and pandas: `read_sql` for a whole table and
a server-side cursor (`stream_results`) for batches, so a large table never sits in memory
twice. SQLAlchemy is imported inside functions: it is only needed for these sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from kpiml.data._duck import choose_table, needs_table, query_error
from kpiml.data._frames import (
    arrow_to_pandas,
    check_has_rows,
    check_unique_columns,
    normalise_frame,
)
from kpiml.data._pgcopy import copied_result, iter_copied, read_with_copy
from kpiml.errors import KpimlError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_CONNECT_TIMEOUT_S = 10


def normalise_url(location: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL URLs written without a driver."""
    return re.sub(r"^(postgresql|postgres)://", "postgresql+psycopg://", location)


def sqlite_database(location: str) -> str | None:
    """The file a sqlite:/// URL points at; None for other URLs and in-memory databases."""
    if not location.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    try:
        database = make_url(location).database
    except Exception:  # malformed: let create_engine report it with the URL error message
        return None
    return None if not database or database == ":memory:" or database.startswith("file:") else database


def sqlite_file_url(path: Path) -> str:
    """A read-only SQLite URL, so that reading never creates or changes the file."""
    return f"sqlite:///file:{path.absolute()}?mode=ro&uri=true"


def safe_url(url_text: str) -> str:
    """The URL with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    try:
        shown = make_url(url_text).render_as_string(hide_password=True)
        return shown.replace("postgresql+psycopg://", "postgresql://", 1)
    except Exception:  # an unparsable URL has nothing reliable to hide; show the scheme only
        return url_text.split("://", 1)[0] + "://..."


def _connect_error(url_text: str, error: BaseException) -> KpimlError:
    from sqlalchemy.engine import make_url

    url = make_url(url_text)
    where = f"{url.host or 'localhost'}:{url.port or 'default port'}" if url.host or url.port else (url.database or "")
    message = str(getattr(error, "orig", None) or error).strip().splitlines()
    got = " ".join(line.strip() for line in message[:2])
    if url.password:
        got = got.replace(url.password, "***")
    return KpimlError(
        f"Cannot connect to the database at {where} ({safe_url(url_text)})",
        expected="a running database server that accepts this user",
        got=got,
        fix="check host, port, database name, user and password (for the test server run "
        "scripts/start_postgres.sh)",
    )


def _url_error(location: str, error: BaseException) -> KpimlError:
    return KpimlError(
        f"Cannot use the database URL '{safe_url(location)}'",
        expected="a SQLAlchemy URL such as postgresql://user@host:5432/db or sqlite:///file.sqlite",
        got=str(error).splitlines()[0],
        fix="check the URL's spelling; drivers installed: psycopg (PostgreSQL) and sqlite",
    )


@contextmanager
def _connection(url_text: str, stream: bool = False) -> Iterator[Connection]:
    """Connect, turning every failure to reach the server into one readable KpimlError."""
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc

    try:
        args = {"connect_timeout": _CONNECT_TIMEOUT_S} if url_text.startswith("postgresql+psycopg") else {}
        engine = sa.create_engine(url_text, connect_args=args, poolclass=sa.pool.NullPool)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError, ValueError) as exc:
        raise _url_error(url_text, exc) from None
    try:
        try:
            conn = engine.connect()
        except sa_exc.DBAPIError as exc:
            raise _connect_error(url_text, exc) from None
        with conn:
            yield conn.execution_options(stream_results=True) if stream else conn
    finally:
        engine.dispose()


def sql_tables(conn: Connection) -> list[str]:
    """Tables and views in the default schema, then schema-qualified ones from other schemas."""
    import sqlalchemy as sa

    inspector = sa.inspect(conn)
    default = inspector.default_schema_name
    names = sorted(inspector.get_table_names() + inspector.get_view_names())
    system = {"information_schema", "pg_catalog", "pg_toast", default}
    for schema in inspector.get_schema_names():
        if schema not in system and not schema.startswith("pg_"):
            found = inspector.get_table_names(schema) + inspector.get_view_names(schema)
            names += sorted(f"{schema}.{name}" for name in found)
    return names


def _statement(conn: Connection, source: str, table: str | None, query: str | None, single_ok: bool) -> Any:
    """The SELECT to run: the user's query, or all columns of the chosen table."""
    import sqlalchemy as sa

    if query is not None:
        return sa.text(query)
    tables = sql_tables(conn)
    if table is None and not single_ok:
        raise needs_table(source, tables)
    name = choose_table(source, table, tables)
    schema, _, bare = name.rpartition(".")
    return sa.select(sa.text("*")).select_from(sa.table(bare, schema=schema or None))


def _database_message(error: BaseException) -> str:
    """The database's own words from an error pandas or SQLAlchemy wrapped (first line)."""
    from sqlalchemy import exc as sa_exc

    cause = error.__cause__ if isinstance(error, pd.errors.DatabaseError) and error.__cause__ else error
    if isinstance(cause, sa_exc.DBAPIError) and cause.orig is not None:
        cause = cause.orig
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _run(conn: Connection, statement: Any, source: str, chunksize: int | None) -> Any:
    from sqlalchemy import exc as sa_exc

    try:
        return pd.read_sql(statement, conn, chunksize=chunksize)
    except (sa_exc.DBAPIError, pd.errors.DatabaseError) as exc:
        raise query_error(source, _database_message(exc)) from None
    except sa_exc.ResourceClosedError:
        raise query_error(source, "the statement returns no rows (is it a SELECT?)") from None


def read_sql(url_text: str, source: str, table: str | None, query: str | None, single_ok: bool) -> pd.DataFrame:
    """Read a whole table or query result through SQLAlchemy (PostgreSQL: COPY first)."""
    with _connection(url_text) as conn:
        statement = _statement(conn, source, table, query, single_ok)
        copied = read_with_copy(conn, statement, source)
        if copied is not None:
            check_has_rows(copied.num_rows, source)
            return arrow_to_pandas(copied)
        frame = _run(conn, statement, source, None)
    check_unique_columns([str(c) for c in frame.columns], source)
    check_has_rows(len(frame), source)
    return normalise_frame(frame)


def _iter_pandas(conn: Connection, statement: Any, source: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Batches from a server-side cursor through pandas (objects per value, but any statement)."""
    from sqlalchemy import exc as sa_exc

    chunks = _run(conn, statement, source, batch_rows)
    try:
        for number, chunk in enumerate(chunks):
            if number == 0:
                check_unique_columns([str(c) for c in chunk.columns], source)
            yield normalise_frame(chunk)
    except (sa_exc.DBAPIError, pd.errors.DatabaseError) as exc:
        raise query_error(source, _database_message(exc)) from None


def iter_sql(url_text: str, source: str, table: str | None, query: str | None, single_ok: bool, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Stream a result batch_rows rows at a time: PostgreSQL via COPY to a temporary file,
    other databases (or statements COPY cannot run) with a server-side cursor."""
    rows = 0
    with _connection(url_text, stream=True) as conn:
        statement = _statement(conn, source, table, query, single_ok)
        with copied_result(conn, statement, source) as copied:
            batches = iter_copied(copied, source, batch_rows) if copied else _iter_pandas(conn, statement, source, batch_rows)
            for frame in batches:
                rows += len(frame)
                yield frame
    check_has_rows(rows, source)
