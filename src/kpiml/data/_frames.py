"""Turn what an engine returns (Arrow tables, SQL result frames) into plain pandas columns.

Every later stage (profile, cleaning, features) reasons on pandas dtypes, so all sources must
agree on them: numbers as int64/float64, booleans as bool (or the nullable "boolean" when a
value is missing), dates and timestamps as datetime64, text as pandas' string dtype with empty
strings treated as missing (an empty cell in an export means "unknown", not a category).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kpiml.errors import KpimlError

_TRUE_FALSE = pa.array(["true", "false"])


def connect(database: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection without the progress bar DuckDB draws on stderr for long queries."""
    con = duckdb.connect(database, read_only=read_only)
    con.execute("SET enable_progress_bar = false")
    return con


def _is_text(kind: pa.DataType) -> bool:
    checks = [pa.types.is_string, pa.types.is_large_string]
    if hasattr(pa.types, "is_string_view"):
        checks.append(pa.types.is_string_view)
    return any(check(kind) for check in checks)


def _only_true_false(column: pa.ChunkedArray) -> bool:
    lowered = pc.utf8_lower(column.drop_null())
    return len(lowered) > 0 and bool(pc.all(pc.is_in(lowered, value_set=_TRUE_FALSE)).as_py())


def _true_false_to_bool(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Make a text column of only 'true'/'false' (any case) boolean.

    The CSV reader keeps DuckDB from sniffing booleans, because it would also turn labels
    such as 'Yes'/'No' into True/False and a user could no longer name the positive label as
    written in the file; 'true'/'false' are not labels but flags, so they become booleans here.
    """
    if column.null_count == len(column) or not _only_true_false(column.slice(0, 1_000)):
        return column
    if not _only_true_false(column):
        return column
    return pc.equal(pc.utf8_lower(column), "true")


def _clean_arrow_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Map engine-specific Arrow types to ones pandas holds natively (no Python objects)."""
    kind = column.type
    if pa.types.is_dictionary(kind):  # DuckDB ENUM columns
        column = column.cast(kind.value_type)
        kind = column.type
    if _is_text(kind):
        empty = pc.equal(column, "")
        if pc.any(empty).as_py():  # checking is cheap; rebuilding a text column is not
            column = pc.if_else(empty, pa.scalar(None, kind), column)
        return _true_false_to_bool(column)
    if pa.types.is_decimal(kind):  # NUMERIC/DECIMAL and HUGEINT would become Decimal objects
        return column.cast(pa.float64())
    if pa.types.is_time(kind):  # time of day has no pandas dtype; keep it readable as text
        return column.cast(pa.string())
    if pa.types.is_null(kind):  # a column that is missing everywhere
        return column.cast(pa.string())
    return column


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Convert an Arrow table to pandas with natural dtypes, freeing Arrow memory as it goes.

    `split_blocks` and `self_destruct` keep the peak near one copy of the data, which matters
    for the million-row files `kpiml plan` profiles within a 2 GB budget.
    """
    names = list(table.column_names)
    columns = [_clean_arrow_column(column) for column in table.columns]
    nullable_bools = [
        name for name, column in zip(names, columns, strict=True)
        if pa.types.is_boolean(column.type) and column.null_count > 0
    ]
    table = pa.Table.from_arrays(columns, names=[str(i) for i in range(len(names))])
    del columns
    frame = table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)
    del table
    frame.columns = pd.Index(names, dtype=object)
    for name in nullable_bools:
        frame[name] = frame[name].astype("boolean")
    return frame


def _convert_objects(series: pd.Series) -> pd.Series:
    """Give an object column (as SQL drivers return) the dtype its values call for."""
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred == "string":
        text = series.astype("str")
        return text.mask(text == "")
    if inferred in ("decimal", "integer", "mixed-integer-float", "floating"):
        return pd.to_numeric(series, errors="coerce")
    if inferred == "boolean":
        return series.astype("boolean")
    if inferred in ("date", "datetime", "datetime64"):
        converted = pd.to_datetime(series, errors="coerce", utc=_has_timezones(series))
        return converted if converted.notna().sum() == series.notna().sum() else series
    return series


def _has_timezones(series: pd.Series) -> bool:
    """Whether the values carry time zones (they must then be put on one zone, UTC)."""
    first = series.dropna().head(1)
    return bool(len(first)) and getattr(first.iloc[0], "tzinfo", None) is not None


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Give a frame from a SQL driver the same dtypes the DuckDB path produces."""
    for position, dtype in enumerate(frame.dtypes):
        series = frame.iloc[:, position]
        if pd.api.types.is_object_dtype(dtype):
            converted = _convert_objects(series)
        elif isinstance(dtype, pd.StringDtype):
            converted = series.mask(series == "")
        else:
            continue
        if converted is not series:
            frame.isetitem(position, converted)
    return frame


def check_unique_columns(names: list[str], source: str) -> None:
    """Refuse duplicate column names: every later stage addresses columns by name."""
    counts = Counter(names)
    duplicates = {name: count for name, count in counts.items() if count > 1}
    if duplicates:
        listed = ", ".join(f"'{name}'" for name in duplicates)
        times = ", ".join(f"'{name}' {count} times" for name, count in duplicates.items())
        raise KpimlError(
            f"{source} has duplicate column names: {listed}",
            expected="each column name once",
            got=times,
            fix="rename the duplicated columns in the header (or alias them in the query)",
        )


def check_has_rows(rows: int, source: str) -> None:
    """Refuse an empty table: nothing can be profiled, trained or scored on zero rows."""
    if rows == 0:
        raise KpimlError(
            f"{source} has column names but no rows",
            expected="at least one data row",
            got="0 rows",
            fix="check that the export finished and that the table or query selects rows",
        )


def rebatch(batches: Iterator[pa.RecordBatch], batch_rows: int) -> Iterator[pa.Table]:
    """Regroup the engine's record batches (of whatever size) into tables of exactly batch_rows.

    Engines hand out batches of their own size (DuckDB: about 25,000 rows); callers asked for
    a number of rows, and exact chunks make batch prediction easy to reason about.
    """
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= batch_rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, batch_rows)
            rest = table.slice(batch_rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)
