"""Checks on files before an engine opens them, so that mistakes get a message, not a traceback.

Engines report a missing file, a binary file named .csv or a Parquet file with a wrong suffix
in their own words (or read garbage); looking at the path and the first bytes first lets kpiml
say which file is wrong and what to do about it.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from kpiml.data._encoding import SAMPLE_BYTES, has_nul_bytes
from kpiml.errors import KpimlError, closest_names

SUPPORTED = (
    ".csv, .tsv, .txt (delimited text), .parquet (a file, a folder of them or a glob), "
    ".duckdb/.db (DuckDB), .sqlite/.sqlite3/.db (SQLite), or a database URL "
    "(postgresql://user@host:port/db, sqlite:///file.sqlite)"
)
_MAGIC = [
    (0, b"PAR1", "parquet", "a Parquet file"),
    (0, b"SQLite format 3\x00", "sqlite", "a SQLite database"),
    (8, b"DUCK", "duckdb", "a DuckDB database"),
    (0, b"PK\x03\x04", "zip", "a zip archive (an Excel .xlsx workbook is one)"),
    (0, b"\x1f\x8b", "gzip", "a gzip-compressed file"),
    (0, b"\xd0\xcf\x11\xe0", "ole", "an old Excel .xls workbook"),
]


def require_exists(path: Path) -> None:
    """Stop early on a path that does not exist, suggesting near-identical names."""
    if path.exists():
        return
    folder = path.parent if path.parent.exists() else None
    similar = closest_names(path.name, [p.name for p in folder.iterdir()]) if folder else []
    hint = f"; similar names there: {', '.join(similar)}" if similar else ""
    raise KpimlError(
        f"Cannot read '{path}': no such file or folder",
        expected="an existing file or folder, or a database URL",
        got=f"nothing at {path.absolute()}",
        fix=f"check the path (relative paths start from {Path.cwd()}){hint}",
    )


def read_head(path: Path, size: int = SAMPLE_BYTES) -> bytes:
    """The first bytes of a file, turning permission and type problems into KpimlError."""
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except PermissionError:
        raise unreadable(path, "permission denied", _permission_fix(path)) from None
    except IsADirectoryError:
        raise unreadable(path, "it is a folder", "pass a file inside it") from None
    except OSError as exc:
        raise unreadable(path, exc.strerror or str(exc), "check the file and retry") from None


def _permission_fix(path: Path) -> str:
    return f"give your user read access (e.g. `chmod u+r {path}`) or copy the file somewhere readable"


def unreadable(path: Path, why: str, fix: str) -> KpimlError:
    """The error for a file that exists but cannot be read as a table."""
    return KpimlError(f"Cannot read '{path}': {why}", expected="a readable file in one of the supported formats", fix=fix)


def magic_kind(head: bytes) -> tuple[str, str] | None:
    """Recognise a file format from its first bytes: (kind, description) or None."""
    for offset, magic, kind, description in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind, description
    return None


def check_not_empty(path: Path, head: bytes) -> None:
    """Refuse a file with no content (0 bytes, or only whitespace and a byte order mark)."""
    content = head
    for bom in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        content = content.removeprefix(bom)
    if content.strip(b" \t\r\n\x00\x0b\x0c") or os.path.getsize(path) > len(head):
        return
    size = os.path.getsize(path)
    raise KpimlError(
        f"'{path}' is empty",
        expected="a header row and at least one data row",
        got="0 bytes" if size == 0 else f"{size} bytes of whitespace only",
        fix="export the table again; the export may have failed or still be running",
    )


def check_readable_text(path: Path, head: bytes) -> None:
    """Refuse a file named as text that is empty, another known format, or binary."""
    check_not_empty(path, head)
    found = magic_kind(head)
    if found is not None:
        kind, description = found
        suffix = {"parquet": ".parquet", "sqlite": ".sqlite", "duckdb": ".duckdb"}.get(kind)
        fix = f"rename it with the suffix {suffix}" if suffix else "export the table as CSV or Parquet"
        raise unreadable(path, f"it is {description}, not delimited text", fix)
    if has_nul_bytes(head[:65536]):
        raise unreadable(
            path, "it is a binary file, not delimited text",
            "point kpiml at the CSV export itself (binary files such as .xlsx are not read)",
        )


def suffix_error(path: Path) -> KpimlError:
    """The error for a file whose suffix names no supported format."""
    return KpimlError(
        f"Cannot read '{path}': kpiml does not know the suffix '{path.suffix or '(none)'}'",
        expected=SUPPORTED,
        got=f"'{path.name}'",
        fix="export the table to one of these formats, or rename the file if its suffix is wrong",
    )
