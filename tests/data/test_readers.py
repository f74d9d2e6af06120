"""Tests for kpiml.data.readers: every source format from real files, batches, and user mistakes."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpiml.data.readers import iter_batches, read_table, source_kind
from kpiml.errors import KpimlError

CSV_TEXT = (
    "id,name,amount,active,signup\n"
    "1,Alice,10.5,true,2024-01-02\n"
    "2,,,false,2024-02-03\n"
    "3,Bob,7.25,true,\n"
)


def _frame(rows: int = 5) -> pd.DataFrame:
    """A small typed table with a missing value in each nullable column."""
    return pd.DataFrame({
        "id": range(1, rows + 1),
        "name": [None if i % 4 == 1 else f"name {i}" for i in range(rows)],
        "amount": [None if i % 3 == 2 else i * 1.5 for i in range(rows)],
        "active": [i % 2 == 0 for i in range(rows)],
    })


def _duckdb_file(path: Path, tables: dict[str, pd.DataFrame]) -> Path:
    with duckdb.connect(str(path)) as con:
        for name, frame in tables.items():
            con.register("source_frame", frame)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM source_frame')
            con.unregister("source_frame")
    return path


def _sqlite_file(path: Path, tables: dict[str, pd.DataFrame]) -> Path:
    with sqlite3.connect(path) as con:
        for name, frame in tables.items():
            frame.to_sql(name, con, index=False)
    con.close()
    return path


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ---- reading each format ----------------------------------------------------------------


def test_csv_columns_get_natural_dtypes(tmp_path: Path) -> None:
    """Check that a CSV comes back with int, float, bool, datetime and string columns in file order."""
    frame = read_table(_write(tmp_path / "t.csv", CSV_TEXT))
    assert list(frame.columns) == ["id", "name", "amount", "active", "signup"]
    assert frame["id"].dtype == "int64"
    assert frame["amount"].dtype == "float64"
    assert frame["active"].dtype == "bool"
    assert pd.api.types.is_datetime64_any_dtype(frame["signup"])
    assert isinstance(frame["name"].dtype, pd.StringDtype)
    assert frame["name"].isna().tolist() == [False, True, False]
    assert frame["amount"].isna().sum() == 1 and frame["signup"].isna().sum() == 1


@pytest.mark.parametrize(
    ("name", "delimiter"),
    [("comma.csv", ","), ("semicolon.csv", ";"), ("tab.tsv", "\t"), ("pipe.txt", "|")],
)
def test_csv_delimiters_are_sniffed(tmp_path: Path, name: str, delimiter: str) -> None:
    """Check that comma, semicolon, tab and pipe files read to the same table."""
    path = _write(tmp_path / name, CSV_TEXT.replace(",", delimiter))
    expected = read_table(_write(tmp_path / "reference.csv", CSV_TEXT))
    pd.testing.assert_frame_equal(read_table(path), expected)


def test_quoted_fields_keep_delimiters_quotes_and_newlines(tmp_path: Path) -> None:
    """Check that quoted fields may hold the delimiter, doubled quotes and line breaks."""
    text = 'id;comment;score\n1;"a; b";1\n2;"say ""hi""";2\n3;"two\nlines";3\n'
    frame = read_table(_write(tmp_path / "q.csv", text))
    assert frame["comment"].tolist() == ["a; b", 'say "hi"', "two\nlines"]
    assert frame["score"].tolist() == [1, 2, 3]


def test_empty_quoted_strings_are_missing(tmp_path: Path) -> None:
    """Check that an empty string, quoted or not, is a missing value in a text column."""
    frame = read_table(_write(tmp_path / "e.csv", 'k,v\na,""\nb,\nc,x\n'))
    assert frame["v"].isna().tolist() == [True, True, False]


def test_yes_no_labels_stay_text_and_true_false_become_bool(tmp_path: Path) -> None:
    """Check that Yes/No labels keep their spelling while true/false flags become booleans."""
    frame = read_table(_write(tmp_path / "f.csv", "id,churn,flag\n1,Yes,TRUE\n2,No,\n3,,false\n"))
    assert frame["churn"].tolist()[:2] == ["Yes", "No"] and frame["churn"].isna().tolist()[2]
    assert frame["flag"].dtype == "boolean"
    assert frame["flag"].tolist()[0] is True and frame["flag"].isna().tolist() == [False, True, False]


_TEXT = st.text(alphabet='abcXYZéü€ ,;|\t"\'\n-', max_size=12).map(lambda text: "x" + text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.integers(-10**12, 10**12), _TEXT, st.none() | _TEXT), min_size=1, max_size=30),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
)
def test_any_quoted_text_round_trips(tmp_path: Path, rows: list[tuple[int, str, str | None]], delimiter: str) -> None:
    """Check that text with delimiters, quotes and newlines written by pandas reads back unchanged."""
    frame = pd.DataFrame(rows, columns=["n", "text", "maybe"])
    path = tmp_path / "round.csv"
    frame.to_csv(path, sep=delimiter, index=False)
    back = read_table(path)
    assert back["n"].tolist() == frame["n"].tolist()
    assert back["text"].tolist() == frame["text"].tolist()
    assert back["maybe"].isna().tolist() == frame["maybe"].isna().tolist()
    assert back["maybe"].dropna().tolist() == frame["maybe"].dropna().tolist()


def test_header_names_are_kept_exactly(tmp_path: Path) -> None:
    """Check that header names keep their spaces, case and accents (DuckDB would trim them)."""
    frame = read_table(_write(tmp_path / "h.csv", " Customer ID ,Ümsatz €,MiXed\n1,2,3\n"))
    assert list(frame.columns) == [" Customer ID ", "Ümsatz €", "MiXed"]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-8-sig", "utf-16", "utf-16-be"])
def test_csv_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    """Check that Latin-1, cp1252, UTF-8 with BOM and UTF-16 files read with their accents intact."""
    price = "5 €" if encoding != "latin-1" else "5 EUR"
    text = f"name,city,price\nZoë,Köln,{price}\nMüller,Zürich,{price}\nFrançois,Besançon,{price}\n"
    frame = read_table(_write(tmp_path / "names.csv", text, encoding))
    assert list(frame.columns) == ["name", "city", "price"]
    assert frame["name"].tolist() == ["Zoë", "Müller", "François"]
    assert frame["city"].tolist() == ["Köln", "Zürich", "Besançon"]
    assert frame["price"].iloc[0] == price


def test_latin1_bytes_after_a_long_ascii_head_are_decoded(tmp_path: Path) -> None:
    """Check that an accented name far past the detection sample still reads as Latin-1."""
    rows = "".join(f"{i},customer {i}\n" for i in range(120_000))
    path = _write(tmp_path / "late.csv", f"id,name\n{rows}120000,Zoë Müller\n", "latin-1")
    frame = read_table(path)
    assert len(frame) == 120_001
    assert frame["name"].iloc[-1] == "Zoë Müller"


def test_a_late_row_breaking_a_sniffed_type_falls_back_to_text(tmp_path: Path) -> None:
    """Check that a bad value past DuckDB's type sample turns that column to text, not an error."""
    rows = "".join(f"{i},{i % 7},{i * 0.5}\n" for i in range(30_000))
    frame = read_table(_write(tmp_path / "late.csv", f"id,score,amount\n{rows}30000,n/a,1.0\n"))
    assert len(frame) == 30_001
    assert isinstance(frame["score"].dtype, pd.StringDtype)
    assert frame["score"].iloc[-1] == "n/a" and frame["score"].iloc[8] == "1"
    assert frame["id"].dtype == "int64" and frame["amount"].dtype == "float64"


def test_parquet_file_folder_and_glob(tmp_path: Path) -> None:
    """Check that a Parquet file, a folder of Parquet files and a glob all read in order."""
    folder = tmp_path / "parts"
    folder.mkdir()
    whole = _frame(6)
    whole.iloc[:3].to_parquet(folder / "part-0.parquet", index=False)
    whole.iloc[3:].to_parquet(folder / "part-1.parquet", index=False)
    single = read_table(folder / "part-0.parquet")
    assert single["id"].tolist() == [1, 2, 3]
    for location in (folder, str(folder / "*.parquet")):
        frame = read_table(location)
        assert frame["id"].tolist() == list(range(1, 7))
        assert frame["name"].isna().tolist() == whole["name"].isna().tolist()
        assert frame["active"].dtype == "bool"


def test_parquet_hive_partitions_become_columns(tmp_path: Path) -> None:
    """Check that a folder partitioned as region=.../ reads with region as a column."""
    _frame(6).assign(region=["north", "south"] * 3).to_parquet(tmp_path / "hive", partition_cols=["region"], index=False)
    frame = read_table(tmp_path / "hive")
    assert sorted(frame["id"]) == list(range(1, 7))
    assert frame.groupby("region")["id"].count().to_dict() == {"north": 3, "south": 3}


def test_duckdb_file_table_query_and_single_table(tmp_path: Path) -> None:
    """Check that a DuckDB file reads by table name (any case), by query, and alone without either."""
    several = _duckdb_file(tmp_path / "w.duckdb", {"customers": _frame(5), "orders": _frame(2)})
    assert read_table(several, table="Customers")["id"].tolist() == [1, 2, 3, 4, 5]
    queried = read_table(several, query="SELECT id, amount FROM customers WHERE id > 3 ORDER BY id")
    assert list(queried.columns) == ["id", "amount"] and queried["id"].tolist() == [4, 5]
    single = _duckdb_file(tmp_path / "one.db", {"only": _frame(3)})
    assert source_kind(single) == "duckdb"
    assert read_table(single)["id"].tolist() == [1, 2, 3]


def test_sqlite_file_table_query_and_single_table(tmp_path: Path) -> None:
    """Check that a SQLite file (also under a .db suffix) reads by table, by query and alone."""
    several = _sqlite_file(tmp_path / "s.sqlite", {"customers": _frame(5), "orders": _frame(2)})
    frame = read_table(several, table="customers")
    assert frame["id"].tolist() == [1, 2, 3, 4, 5]
    assert isinstance(frame["name"].dtype, pd.StringDtype) and frame["amount"].dtype == "float64"
    assert read_table(several, query="SELECT count(*) AS n FROM orders")["n"].tolist() == [2]
    single = _sqlite_file(tmp_path / "one.db", {"only": _frame(3)})
    assert source_kind(single) == "sqlite"
    assert read_table(single)["id"].tolist() == [1, 2, 3]
    assert read_table(f"sqlite:///{several}", table="orders")["id"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("t.csv", "csv"),
        ("t.TSV", "csv"),
        ("t.txt", "csv"),
        ("t.parquet", "parquet"),
        ("postgresql://u@h:5432/db", "sql"),
        ("sqlite:///x.sqlite", "sql"),
    ],
)
def test_source_kind_from_suffix_or_scheme(tmp_path: Path, location: str, kind: str) -> None:
    """Check that source_kind names the reader from a file suffix (any case) or a URL scheme."""
    if "://" not in location:
        location = str(_write(tmp_path / location, "a\n1\n"))
    assert source_kind(location) == kind


# ---- batches -------------------------------------------------------------------------------


def _sources(tmp_path: Path, frame: pd.DataFrame) -> dict[str, tuple[str | Path, dict[str, str]]]:
    frame.to_csv(tmp_path / "b.csv", index=False)
    frame.to_parquet(tmp_path / "b.parquet", index=False)
    return {
        "csv": (tmp_path / "b.csv", {}),
        "parquet": (tmp_path / "b.parquet", {}),
        "duckdb": (_duckdb_file(tmp_path / "b.duckdb", {"t": frame}), {"table": "t"}),
        "sqlite": (_sqlite_file(tmp_path / "b.sqlite", {"t": frame}), {"query": "SELECT * FROM t"}),
    }


@pytest.mark.parametrize("kind", ["csv", "parquet", "duckdb", "sqlite"])
def test_iter_batches_sizes_add_up_in_order(tmp_path: Path, kind: str) -> None:
    """Check that batches have exactly batch_rows rows (the last fewer) and keep the row order."""
    frame = _frame(2_500)
    location, options = _sources(tmp_path, frame)[kind]
    batches = list(iter_batches(location, batch_rows=1_000, **options))
    assert [len(b) for b in batches] == [1_000, 1_000, 500]
    assert pd.concat(batches)["id"].tolist() == frame["id"].tolist()
    assert list(batches[0].columns) == list(frame.columns)


def test_iter_batches_survive_a_type_break_mid_file(tmp_path: Path) -> None:
    """Check that a late value breaking a sniffed type restarts after the rows already handed out."""
    rows = "".join(f"{i},{i % 5}\n" for i in range(30_000))
    path = _write(tmp_path / "late.csv", f"id,score\n{rows}30000,unknown\n")
    batches = list(iter_batches(path, batch_rows=4_000))
    ids = pd.concat([b["id"] for b in batches]).astype("int64").tolist()
    assert ids == list(range(30_001))
    assert str(batches[-1]["score"].iloc[-1]) == "unknown"


# ---- user mistakes -------------------------------------------------------------------------

Case = Callable[[Path], tuple[str | Path, dict[str, str]]]


def _file(name: str, content: bytes | str, **options: str) -> Case:
    def make(tmp_path: Path) -> tuple[str | Path, dict[str, str]]:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path, options

    return make


def _folder_of_csv(tmp_path: Path) -> tuple[str | Path, dict[str, str]]:
    folder = tmp_path / "exports"
    folder.mkdir()
    _write(folder / "a.csv", CSV_TEXT)
    return folder, {}


def _parquet_as_csv(tmp_path: Path) -> tuple[str | Path, dict[str, str]]:
    _frame().to_parquet(tmp_path / "data.csv", index=False)
    return tmp_path / "data.csv", {}


def _unreadable(tmp_path: Path) -> tuple[str | Path, dict[str, str]]:
    path = _write(tmp_path / "secret.csv", CSV_TEXT)
    path.chmod(0)
    return path, {}


def _database(kind: str, **options: str) -> Case:
    def make(tmp_path: Path) -> tuple[str | Path, dict[str, str]]:
        tables = {"customers": _frame(), "orders": _frame(2)}
        if kind == "duckdb":
            return _duckdb_file(tmp_path / "w.duckdb", tables), options
        return _sqlite_file(tmp_path / "w.sqlite", tables), options

    return make


def _url(url: str, **options: str) -> Case:
    return lambda tmp_path: (url, options)


ERRORS = [
    pytest.param(lambda p: (p / "nope.csv", {}), KpimlError, r"nope\.csv': no such file", id="missing"),
    pytest.param(_folder_of_csv, KpimlError, r"holds no Parquet files.*a\.csv", id="folder-no-parquet"),
    pytest.param(_file("bin.csv", bytes(range(256)) * 40), KpimlError, r"bin\.csv': it is a binary file", id="binary"),
    pytest.param(_parquet_as_csv, KpimlError, r"data\.csv': it is a Parquet file.*\.parquet", id="wrong-suffix"),
    pytest.param(
        _unreadable, KpimlError, r"secret\.csv': permission denied", id="permission",
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file"),
    ),
    pytest.param(_file("empty.csv", b""), KpimlError, r"empty\.csv' is empty.*0 bytes", id="empty"),
    pytest.param(_file("blank.csv", " \n\n \t\n"), KpimlError, r"blank\.csv' is empty.*whitespace", id="blank"),
    pytest.param(_file("head.csv", "a,b,c\n"), KpimlError, r"head\.csv' has column names but no rows", id="header-only"),
    pytest.param(_file("dup.csv", "id,x,id,y,x\n1,2,3,4,5\n"), KpimlError, r"duplicate column names: 'id', 'x'", id="duplicates"),
    pytest.param(_file("ragged.csv", "a,b\n1,2\n3,4,5\n"), KpimlError, r"ragged\.csv' has a row with the wrong number", id="ragged"),
    pytest.param(_file("t.parquet", CSV_TEXT), KpimlError, r"t\.parquet': it is not a Parquet file", id="not-parquet"),
    pytest.param(_file("book.xlsx", b"PK\x03\x04"), KpimlError, r"does not know the suffix '\.xlsx'.*\.parquet", id="suffix"),
    pytest.param(_file("fake.db", "not a database"), KpimlError, r"fake\.db': it is neither a DuckDB nor a SQLite", id="fake-db"),
    pytest.param(_database("duckdb", table="t", query="SELECT 1"), KpimlError, r"Both a table and a query", id="both"),
    pytest.param(_file("t.csv", CSV_TEXT, table="t"), KpimlError, r"--table and --query apply to databases only", id="table-on-csv"),
    pytest.param(_database("duckdb", table="custmers"), KpimlError, r"no table 'custmers' \(did you mean customers\?\).*customers, orders", id="duckdb-no-table"),
    pytest.param(_database("sqlite", table="invoices"), KpimlError, r"no table 'invoices'.*customers, orders", id="sqlite-no-table"),
    pytest.param(_database("duckdb", query="SELEC id FROM customers"), KpimlError, r"query failed.*syntax error", id="duckdb-bad-sql"),
    pytest.param(_database("sqlite", query="SELECT nope FROM customers"), KpimlError, r"query failed.*no such column: nope", id="sqlite-bad-sql"),
    pytest.param(_database("duckdb"), KpimlError, r"holds 2 tables.*customers, orders", id="duckdb-which-table"),
    pytest.param(_database("sqlite"), KpimlError, r"holds 2 tables.*customers, orders", id="sqlite-which-table"),
    pytest.param(
        _url("postgresql://kpiml:s3cret@127.0.0.1:1/db", table="t"), KpimlError,
        r"Cannot connect to the database at 127\.0\.0\.1:1 \(postgresql://kpiml:\*\*\*@", id="no-server",
    ),
    pytest.param(_url("nosuchdb://x/y", table="t"), KpimlError, r"Cannot use the database URL", id="bad-url"),
]


def _read_all(location: str | Path, **options: str) -> pd.DataFrame:
    return read_table(location, **options)


def _batch_all(location: str | Path, **options: str) -> pd.DataFrame:
    return pd.concat(list(iter_batches(location, batch_rows=2, **options)))


@pytest.mark.parametrize("read", [_read_all, _batch_all], ids=["read_table", "iter_batches"])
@pytest.mark.parametrize(("make_input", "error", "message"), ERRORS)
def test_user_mistakes_raise_a_readable_error(
    tmp_path: Path, read: Callable[..., pd.DataFrame], make_input: Case, error: type[Exception], message: str
) -> None:
    """Check that each user mistake raises KpimlError naming the input and what to do."""
    location, options = make_input(tmp_path)
    with pytest.raises(error, match=message) as caught:
        read(location, **options)
    assert "Fix:" in str(caught.value)
    assert "s3cret" not in str(caught.value)


# ---- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def pg_table(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A table of 250 rows in the test database, under a unique name, dropped afterwards."""
    import sqlalchemy as sa

    name = f"readers_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    frame = _frame(250).assign(
        price=[f"{i}.25" for i in range(250)], signup=pd.Timestamp("2024-01-01") + pd.to_timedelta(range(250), "D")
    )
    with engine.begin() as conn:
        frame.to_sql(name, conn, index=False)
        conn.execute(sa.text(f'ALTER TABLE "{name}" ALTER COLUMN price TYPE numeric(10, 2) USING price::numeric'))
        conn.execute(sa.text(f'ALTER TABLE "{name}" ALTER COLUMN signup TYPE date'))
    yield postgres_url, name
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))
    engine.dispose()


@pytest.mark.postgres
def test_postgres_table_query_and_batches(pg_table: tuple[str, str]) -> None:
    """Check that a PostgreSQL table and query (COPY, or read_sql for SHOW) read whole and in batches."""
    url, name = pg_table
    frame = read_table(url, table=name)
    assert frame["id"].tolist() == list(range(1, 251))
    assert frame["price"].dtype == "float64" and frame["price"].iloc[1] == 1.25
    assert pd.api.types.is_datetime64_any_dtype(frame["signup"])
    assert isinstance(frame["name"].dtype, pd.StringDtype) and frame["name"].isna().any()
    assert frame["active"].dtype == "bool"
    queried = read_table(url, query=f'SELECT id, amount FROM "{name}" WHERE id <= 10 ORDER BY id;')
    assert queried["id"].tolist() == list(range(1, 11))
    assert read_table(url, query="SHOW client_encoding")["client_encoding"].tolist() == ["UTF8"]
    batches = list(iter_batches(url, query=f'SELECT * FROM "{name}" ORDER BY id', batch_rows=100))
    assert [len(b) for b in batches] == [100, 100, 50]
    assert pd.concat(batches)["id"].tolist() == list(range(1, 251))


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"table": "no_such_table"}, KpimlError, r"has no table 'no_such_table'.*readers_"),
        ({"query": "SELECT * FROM no_such_table"}, KpimlError, r"query failed.*relation \"no_such_table\" does not exist"),
        ({}, KpimlError, r"kpiml needs to know which one to read"),
    ],
)
def test_postgres_mistakes_raise_a_readable_error(
    pg_table: tuple[str, str], options: dict[str, str], error: type[Exception], message: str
) -> None:
    """Check that a missing table, bad SQL or no table at all on PostgreSQL raise KpimlError."""
    url, _ = pg_table
    with pytest.raises(error, match=message):
        read_table(url, **options)
