"""Find the text encoding of a CSV export before DuckDB reads it.

DuckDB reads UTF-8, UTF-16 (little-endian) and Latin-1 natively and fast; everything else
(Windows-1252 with curly quotes and euro signs, Shift-JIS, Cyrillic code pages, big-endian
UTF-16) is first copied to a UTF-8 temporary file by Python's codecs, so DuckDB can still do
the parsing and type sniffing. Spreadsheet exports from Western Europe are by far the most
common non-UTF-8 files, so ambiguous single-byte guesses are resolved towards them.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

SAMPLE_BYTES = 1 << 20
_CHUNK = 1 << 22
# Bytes 0x80-0x9F are control characters in Latin-1 but letters and punctuation in cp1252.
_C1 = re.compile(rb"[\x80-\x9f]")
_WESTERN = {"cp1252", "latin_1", "iso8859_1", "iso8859_15"}


@dataclass(frozen=True)
class Encoding:
    """How to decode a file: the Python codec, and DuckDB's name for it when DuckDB can."""

    codec: str
    duckdb: str | None

    @property
    def label(self) -> str:
        """A name for messages ("latin-1", "utf-8 with BOM")."""
        return "utf-8 with BOM" if self.codec == "utf-8-sig" else self.codec


UTF8 = Encoding("utf-8", "utf-8")


def _utf16_without_bom(sample: bytes) -> Encoding | None:
    """Spot UTF-16 text without a byte order mark by its zero high bytes."""
    pairs = sample[: len(sample) // 2 * 2]
    if len(pairs) < 4:
        return None
    even_zero = pairs[0::2].count(0) / (len(pairs) / 2)
    odd_zero = pairs[1::2].count(0) / (len(pairs) / 2)
    if odd_zero > 0.3 and even_zero < 0.05:
        return Encoding("utf-16-le", "utf-16")
    if even_zero > 0.3 and odd_zero < 0.05:
        return Encoding("utf-16-be", None)
    return None


def _from_bom(sample: bytes) -> Encoding | None:
    if sample.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", "utf-8")
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return Encoding("utf-32", None)
    if sample.startswith(codecs.BOM_UTF16_LE):
        return Encoding("utf-16", "utf-16")
    if sample.startswith(codecs.BOM_UTF16_BE):
        return Encoding("utf-16", None)
    return None


def is_utf8(sample: bytes) -> bool:
    """Whether bytes are valid UTF-8, allowing a character cut at the end of the sample."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _legacy(sample: bytes) -> Encoding:
    """Guess a single- or multi-byte legacy encoding, preferring Western European ones."""
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is not None and not _WESTERN & {best.encoding, *best.could_be_from_charset}:
        return Encoding(best.encoding, None)
    if _C1.search(sample) and _decodes(sample, "cp1252"):
        return Encoding("cp1252", None)
    return Encoding("latin-1", "latin-1")


def _decodes(sample: bytes, codec: str) -> bool:
    try:
        sample.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def has_nul_bytes(sample: bytes) -> bool:
    """NUL bytes never occur in text files, except as half of a UTF-16 character."""
    return b"\x00" in sample and _from_bom(sample) is None and _utf16_without_bom(sample) is None


def detect(sample: bytes) -> Encoding:
    """Pick the encoding of a sample of a file's bytes."""
    found = _from_bom(sample) or _utf16_without_bom(sample)
    if found is not None:
        return found
    if is_utf8(sample):
        return UTF8
    return _legacy(sample)


def first_non_utf8_chunk(path: Path) -> bytes:
    """The first stretch of the file that is not UTF-8, to guess its real encoding from.

    A file can be plain ASCII for a million rows and have its first accented name after
    that, so when DuckDB reports invalid UTF-8 the head sample was not representative.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return chunk[max(exc.start - SAMPLE_BYTES // 2, 0) : exc.start + SAMPLE_BYTES // 2]
    return b""


def refine_latin1(path: Path, found: Encoding) -> Encoding:
    """Switch a Latin-1 guess to cp1252 when the whole file holds cp1252-only bytes (€, “, ’)."""
    if found.codec != "latin-1":
        return found
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if _C1.search(chunk):
                return Encoding("cp1252", None)
    return found
