"""Pick a CSV file's delimiter from the field counts of its first records.

DuckDB's sniffer is forgiving in a way that hides mistakes: faced with one row that has an
extra field, it may skip the header and the rows before it, or decide the delimiter is '|' and
return a single column. A delimiter is right when it splits (almost) every record into the same
number of fields, more than one; choosing it here, and handing it to DuckDB, turns a ragged
file into an error that names the line instead of a silently wrong table.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from kpiml.errors import KpimlError

CANDIDATES = (",", ";", "\t", "|")
_MAX_RECORDS = 2_000
_MAX_TITLE_LINES = 10
_SAMPLE_CHARS = 1 << 20


@dataclass(frozen=True)
class Layout:
    """The delimiter (None: one column, let DuckDB decide) and the title lines above the header."""

    delimiter: str | None
    skip: int


def _records(text: str, delimiter: str, truncated: bool) -> list[tuple[int, int]]:
    """(first line, field count) of the sample's non-blank records, quotes respected."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"', strict=False)
    found: list[tuple[int, int]] = []
    start = 1
    try:
        for record in reader:
            if record and any(field.strip() for field in record):
                found.append((start, len(record)))
            start = reader.line_num + 1
            if len(found) >= _MAX_RECORDS:
                return found
    except csv.Error:  # e.g. a NUL byte; the field counts gathered so far still tell the shape
        pass
    return found[:-1] if truncated and len(found) > 1 else found


class _Score(NamedTuple):
    share: float  # of the records from the header on, those with the modal field count
    modal: int
    skip: int  # title records above the header

    def rank(self) -> tuple[float, int, int]:
        """Consistent first, then no title lines skipped, then more fields."""
        return self.share, -self.skip, self.modal


def _score(records: list[tuple[int, int]]) -> _Score:
    counts = [count for _, count in records]
    modal, _ = Counter(counts).most_common(1)[0]
    skip = counts.index(modal)
    body = counts[skip:]
    return _Score(body.count(modal) / len(body), modal, skip)


def sniff_layout(path: Path, codec: str, source: str) -> Layout:
    """Choose the delimiter that gives most records one and the same field count (> 1)."""
    with path.open(encoding=codec, newline="", errors="replace") as handle:
        text = handle.read(_SAMPLE_CHARS)
    truncated = len(text) == _SAMPLE_CHARS
    best: tuple[_Score, str, list[tuple[int, int]]] | None = None
    for delimiter in CANDIDATES:
        records = _records(text, delimiter, truncated)
        score = _score(records) if records else None
        if score is None or score.modal < 2 or score.skip > _MAX_TITLE_LINES:
            continue
        if best is None or score.rank() > best[0].rank():
            best = (score, delimiter, records)
    if best is None:
        return Layout(None, 0)
    score, delimiter, records = best
    if score.share < 1.0:
        _raise_ragged(source, records[score.skip :], score.modal, delimiter)
    return Layout(delimiter, records[score.skip][0] - 1)


def _raise_ragged(source: str, records: list[tuple[int, int]], modal: int, delimiter: str) -> None:
    line, count = next((line, count) for line, count in records if count != modal)
    shown = {"\t": "tab"}.get(delimiter, f"'{delimiter}'")
    raise KpimlError(
        f"{source} has a row with the wrong number of fields (line {line})",
        expected=f"every row with {modal} fields separated by {shown}, like the header",
        got=f"{count} fields on line {line}",
        fix="quote fields that contain the delimiter, or repair or remove that row",
    )
