"""Read delimited text files (CSV, TSV, TXT) with DuckDB's parallel reader.

DuckDB sniffs the delimiter, quoting and column types and parses a million rows in a couple of
seconds on two cores, without ever holding the text as Python objects. What it does not do is
done here, around it: pick the encoding, refuse files that are not text or have no rows, name
duplicated header columns (DuckDB silently renames them), keep header names byte for byte
(DuckDB trims them), and fall back to text when a row far past the sniffing sample breaks a
sniffed type (a later cleaning step turns text back into numbers or dates).
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pandas as pd
import pyarrow as pa

from kpiml.data import _encoding
from kpiml.data._files import check_readable_text, read_head
from kpiml.data._frames import (
    arrow_to_pandas,
    check_has_rows,
    check_unique_columns,
    connect,
    rebatch,
)
from kpiml.data._layout import Layout, sniff_layout
from kpiml.errors import KpimlError

# A broken sniffed type is retried with that one column as text this many times, then all
# columns are read as text: each retry is a full pass over the file.
_COLUMN_RETRIES = 3
_TYPE_CANDIDATES = ["BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "TIME", "VARCHAR"]
_FAILED_COLUMN = re.compile(r'Error when converting column "(.*)"\. Could not convert')


@dataclass(frozen=True)
class CsvSource:
    """A file ready for DuckDB: its (possibly transcoded) path, encoding and header names."""

    original: Path
    path: Path
    encoding: _encoding.Encoding
    layout: Layout
    header: list[str] | None = None

    def options(self) -> tuple[str, dict[str, object]]:
        """DuckDB read_csv options (SQL fragment and parameters) for this file's layout."""
        # No BOOLEAN among the sniffed types: DuckDB would turn 'Yes'/'No' labels into True/False,
        # and users must see (and pass --positive as) the labels their file holds.
        sql = "encoding=$e, skip=$s, auto_type_candidates=$types"
        params: dict[str, object] = {"p": str(self.path), "e": self.encoding.duckdb or "utf-8", "s": self.layout.skip, "types": _TYPE_CANDIDATES}
        if self.layout.delimiter is not None:
            sql += ", delim=$d"
            params["d"] = self.layout.delimiter
        return sql, params


class _InvalidUnicode(Exception):
    """DuckDB found bytes the chosen encoding cannot decode, past the detection sample."""


def _transcode(path: Path, encoding: _encoding.Encoding, folder: Path) -> Path:
    """Copy a file DuckDB cannot decode to UTF-8, in chunks so memory stays flat."""
    target = folder / (path.stem + ".utf8.csv")
    try:
        with path.open(encoding=encoding.codec, newline="") as source, target.open(
            "w", encoding="utf-8", newline=""
        ) as sink:
            while chunk := source.read(1 << 22):
                sink.write(chunk)
    except UnicodeDecodeError as exc:
        raise KpimlError(
            f"Cannot decode '{path}' as {encoding.label}",
            expected="a text file in one encoding (UTF-8 is safest)",
            got=f"bytes that are not {encoding.label} at byte {exc.start} of a chunk",
            fix="save the file again as UTF-8 (in Excel: Save As > CSV UTF-8)",
        ) from None
    return target


class Dialect(NamedTuple):
    """How DuckDB's sniffer says the file is laid out."""

    delimiter: str
    quote: str
    escape: str
    has_header: bool
    skip_rows: int

    def reader_options(self) -> dict[str, Any]:
        """The same layout as options for Python's csv module."""
        options: dict[str, Any] = {"delimiter": self.delimiter}
        if self.quote in ("(empty)", ""):
            options["quoting"] = csv.QUOTE_NONE
        else:
            options["quotechar"] = self.quote
        if self.escape not in ("(empty)", "", self.quote):
            options.update(escapechar=self.escape, doublequote=False)
        return options


def _sniff(con: duckdb.DuckDBPyConnection, source: CsvSource) -> Dialect:
    """Ask DuckDB for the quoting and header, to parse the raw header exactly as DuckDB will."""
    options, params = source.options()
    rows = con.sql(
        f"SELECT Delimiter, Quote, Escape, HasHeader, SkipRows FROM sniff_csv($p, {options})",
        params=params,
    ).fetchall()
    delimiter, quote, escape, has_header, skip_rows = rows[0]  # sniff_csv answers one row or raises
    return Dialect(str(delimiter), str(quote), str(escape), bool(has_header), int(skip_rows))


def _raw_header(source: Path, codec: str, dialect: Dialect) -> list[str] | None:
    """The header cells exactly as written: DuckDB trims and de-duplicates them."""
    if not dialect.has_header:
        return None
    with source.open(encoding=codec, newline="", errors="replace") as handle:
        for _ in range(dialect.skip_rows):
            handle.readline()
        return next(csv.reader(handle, **dialect.reader_options()), None)


@contextmanager
def _prepared(path: Path, sample: bytes | None = None) -> Iterator[CsvSource]:
    """Detect the encoding and layout, transcode what DuckDB cannot decode, check the header."""
    head = read_head(path)
    check_readable_text(path, head)
    found = _encoding.refine_latin1(path, _encoding.detect(sample or head))
    with tempfile.TemporaryDirectory(prefix="kpiml-csv-") as folder:
        if found.duckdb is None:
            readable, found = _transcode(path, found, Path(folder)), _encoding.UTF8
        else:
            readable = path
        codec = "utf-8-sig" if found.codec == "utf-8" else found.codec
        source = CsvSource(path, readable, found, sniff_layout(readable, codec, f"'{path}'"))
        dialect = _sniff_or_fail(source)
        header = _raw_header(readable, codec, dialect)
        if header is not None:
            check_unique_columns([name for name in header if name != ""], f"The header of '{path}'")
        yield replace(source, header=header)


def _sniff_or_fail(source: CsvSource) -> Dialect:
    with connect() as con:
        try:
            return _sniff(con, source)
        except duckdb.Error as exc:
            if "Invalid unicode" in str(exc):
                raise _InvalidUnicode(str(exc)) from None
            raise csv_error(source.original, exc) from None


def _relation(con: duckdb.DuckDBPyConnection, source: CsvSource, text_columns: dict[str, str] | None, offset: int = 0) -> duckdb.DuckDBPyRelation:
    """A lazy DuckDB relation over the file; `text_columns` None means all columns as text."""
    options, params = source.options()
    if text_columns is None:
        options += ", all_varchar=true"
    elif text_columns:
        options += ", types=$t"
        params["t"] = text_columns
    tail = f" OFFSET {int(offset)}" if offset else ""
    return con.sql(f"SELECT * FROM read_csv($p, {options}){tail}", params=params)


def _failed_column(error: BaseException) -> str | None:
    """The column whose sniffed type a later row broke, from DuckDB's conversion error."""
    match = _FAILED_COLUMN.search(str(error))
    return match.group(1) if match else None


def _next_types(error: BaseException, text_columns: dict[str, str] | None) -> dict[str, str] | None:
    """After a type error: read the failing column as text, or give up and read all as text."""
    message = str(error)
    if "Invalid unicode" in message:
        raise _InvalidUnicode(message)
    column = _failed_column(error)
    if text_columns is None or column is None or "Conversion Error" not in message:
        raise error
    if column in text_columns or len(text_columns) >= _COLUMN_RETRIES:
        return None
    return {**text_columns, column: "VARCHAR"}


def _read_arrow(source: CsvSource) -> pa.Table:
    """Read the whole file, widening broken columns to text until it reads."""
    text_columns: dict[str, str] | None = {}
    with connect() as con:
        while True:
            try:
                return _relation(con, source, text_columns).to_arrow_table()
            except (duckdb.Error, OSError) as exc:
                text_columns = _next_types(exc, text_columns)


def _named(table: pa.Table, header: list[str] | None) -> pa.Table:
    """Give the columns their names exactly as the header spells them."""
    if header is None or len(header) != table.num_columns:
        return table
    names = [raw if raw != "" else sniffed for raw, sniffed in zip(header, table.column_names, strict=True)]
    return table.rename_columns(names)


def _read_once(path: Path, sample: bytes | None) -> pa.Table:
    with _prepared(path, sample) as source:
        return _named(_read_arrow(source), source.header)


def read_csv(path: Path) -> pd.DataFrame:
    """Read a whole delimited text file into pandas with natural dtypes."""
    try:
        try:
            table = _read_once(path, None)
        except _InvalidUnicode:
            table = _read_once(path, _encoding.first_non_utf8_chunk(path) or None)
    except _InvalidUnicode as exc:
        raise _encoding_error(path, str(exc)) from None
    except (duckdb.Error, OSError) as exc:
        raise csv_error(path, exc) from None
    check_has_rows(table.num_rows, f"'{path}'")
    return arrow_to_pandas(table)


def iter_csv(path: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Stream a delimited text file in chunks of exactly batch_rows rows (the last may be short).

    After an encoding or type surprise part-way, reading restarts after the rows already
    handed out, so the caller sees every row once and in file order.
    """
    emitted, sample = 0, None
    for attempt in range(2):
        try:
            for frame in _stream(path, sample, batch_rows, emitted):
                emitted += len(frame)
                yield frame
            break
        except _InvalidUnicode as exc:
            if attempt:
                raise _encoding_error(path, str(exc)) from None
            sample = _encoding.first_non_utf8_chunk(path) or None
        except (duckdb.Error, OSError) as exc:
            raise csv_error(path, exc) from None
    check_has_rows(emitted, f"'{path}'")


def _stream(path: Path, sample: bytes | None, batch_rows: int, start: int) -> Iterator[pd.DataFrame]:
    """Yield frames from row `start` on, widening a broken column to text and resuming."""
    with _prepared(path, sample) as source, connect() as con:
        text_columns: dict[str, str] | None = {}
        done = start
        while True:
            try:
                reader = _relation(con, source, text_columns, done).to_arrow_reader(batch_rows)
                for table in rebatch(iter(reader), batch_rows):
                    done += table.num_rows
                    yield arrow_to_pandas(_named(table, source.header))
                return
            except (duckdb.Error, OSError) as exc:
                text_columns = _next_types(exc, text_columns)


def _encoding_error(path: Path, message: str) -> KpimlError:
    return KpimlError(
        f"Cannot decode '{path}': its encoding could not be determined",
        expected="a text file in one encoding (UTF-8, UTF-16, Latin-1, Windows-1252, ...)",
        got=message.splitlines()[0],
        fix="save the file again as UTF-8 (in Excel: Save As > CSV UTF-8)",
    )


def csv_error(path: Path, error: BaseException) -> KpimlError:
    """Explain a DuckDB CSV error in terms of the file and what to change in it."""
    message = str(error)
    first = message.splitlines()[0] if message else type(error).__name__
    line = re.search(r"CSV Error on Line: (\d+)", message)
    where = f" (line {line.group(1)})" if line else ""
    if "Expected Number of Columns" in message or "too many columns" in message.lower():
        found = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
        got = f"{found.group(2)} fields where the header has {found.group(1)}" if found else first
        return KpimlError(
            f"'{path}' has a row with the wrong number of fields{where}",
            expected="every row with as many fields as the header",
            got=got,
            fix="quote fields that contain the delimiter, or repair that row",
        )
    if "sniffing" in message or "not possible to automatically detect" in message:
        return KpimlError(
            f"Cannot read '{path}' as a delimited text file",
            expected="rows of fields separated by a comma, semicolon, tab or pipe",
            got="no consistent delimiter and quoting (is it really a CSV file?)",
            fix="export the table again as CSV, or point kpiml at the right file",
        )
    return KpimlError(
        f"Cannot read '{path}'{where}",
        expected="a well-formed delimited text file",
        got=first,
        fix="repair the file (or export it again) and retry",
    )
