"""Batch scoring: check new data against the model's input contract, score it in chunks.

The contract is written at training time from the data the model learnt on: each feature's
kind, whether it had missing values, its categories and its range. At scoring time a
missing feature is an error (all of them listed), an extra column is ignored with a note,
an unseen category is scored as "other" (the encoders' infrequent / unknown bucket) with a
note, and a value that cannot be read as the trained type (text in a numeric column, a
non-date in a date column) is refused with the row numbers, because silently turning it
into a missing value would score the row on made-up data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError
from kpiml.features import coerce_column, feature_kinds
from kpiml.spec import Spec

MAX_CATEGORIES = 1000
CONTRACT_VERSION = 1


def _feature_entry(name: str, kind: str, col: pd.Series) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "kind": kind, "dtype": str(col.dtype), "missing_in_training": bool(col.isna().any())}
    values = coerce_column(col, kind)
    if kind in ("numeric", "boolean"):
        finite = values[np.isfinite(values)]
        entry["min"] = float(finite.min()) if len(finite) else None
        entry["max"] = float(finite.max()) if len(finite) else None
    elif kind == "datetime":
        stamps = pd.Series(values).dropna()
        entry["min"] = stamps.min().isoformat() if len(stamps) else None
        entry["max"] = stamps.max().isoformat() if len(stamps) else None
    elif kind == "categorical":
        cats = sorted({str(v) for v in values if isinstance(v, str)})
        entry["categories"] = cats[:MAX_CATEGORIES]
        entry["categories_complete"] = len(cats) <= MAX_CATEGORIES
    return entry


def build_contract(frame: pd.DataFrame, spec: Spec) -> dict[str, Any]:
    """The input contract of a model trained on `frame` as the spec describes it."""
    kinds = feature_kinds(spec.columns)
    return {
        "version": CONTRACT_VERSION,
        "problem": spec.target.problem,
        "target": spec.target.column,
        "features": [_feature_entry(n, k, frame[n]) for n, k in kinds.items()],
        "identifiers": [c.name for c in spec.columns if c.use == "identifier"],
        "other_columns": [c.name for c in spec.columns if c.use in ("time", "group", "exclude")],
    }


@dataclass
class CheckNotes:
    """What scoring noticed but accepted, collected over all chunks for one summary."""

    ignored_columns: list[str] = field(default_factory=list)
    unseen: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)
    new_missing: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = []
        if self.ignored_columns:
            out.append(f"Ignored {len(self.ignored_columns)} column(s) the model does not use: {', '.join(self.ignored_columns[:20])}")
        out += [f"Column '{c}': {n} row(s) with categories unseen in training, scored as an unknown category" for c, n in self.unseen.items()]
        out += [f"Column '{c}': {n} row(s) outside the training range (scored; predictions there are extrapolations)" for c, n in self.out_of_range.items()]
        out += [f"Column '{c}': {n} missing value(s), a column that had none in training (imputed)" for c, n in self.new_missing.items()]
        return out


def _rows_text(positions: np.ndarray, offset: int, values: pd.Series) -> str:
    shown = [f"{offset + int(p) + 1} ({values.iloc[int(p)]!r})" for p in positions[:10]]
    more = f" and {len(positions) - 10} more" if len(positions) > 10 else ""
    return ", ".join(shown) + more


def _check_feature(entry: dict[str, Any], col: pd.Series, offset: int, notes: CheckNotes) -> None:
    name, kind = entry["name"], entry["kind"]
    values = coerce_column(col, kind)
    given = col.notna().to_numpy()
    lost = given & pd.isna(values)
    if lost.any():
        what = {"numeric": "numbers", "boolean": "true/false values", "datetime": "dates"}.get(kind, kind)
        raise KpimlError(f"Column '{name}' holds values that cannot be read as {what}, as in training, at data row(s) {_rows_text(np.flatnonzero(lost), offset, col)}", expected=f"{what} (training dtype {entry['dtype']})", got=f"{int(lost.sum())} unreadable value(s)", fix="correct those values or blank them out to score them as missing")
    missing = int((~given).sum())
    if missing and not entry.get("missing_in_training"):
        notes.new_missing[name] = notes.new_missing.get(name, 0) + missing
    if kind in ("numeric", "boolean") and entry.get("min") is not None:
        outside = int(np.sum((values < entry["min"]) | (values > entry["max"])))
        if outside:
            notes.out_of_range[name] = notes.out_of_range.get(name, 0) + outside
    if kind == "categorical" and entry.get("categories_complete"):
        known = set(entry["categories"])
        unseen = int(sum(1 for v in values if isinstance(v, str) and v not in known))
        if unseen:
            notes.unseen[name] = notes.unseen.get(name, 0) + unseen


def check_frame(frame: pd.DataFrame, contract: dict[str, Any], offset: int = 0, notes: CheckNotes | None = None) -> CheckNotes:
    """Raise KpimlError on a contract violation; return notes on what was accepted."""
    from kpiml.errors import closest_names

    notes = notes if notes is not None else CheckNotes()
    names = [f["name"] for f in contract["features"]]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        hints = "; ".join(f"'{m}' (did you mean {', '.join(repr(h) for h in closest_names(m, list(map(str, frame.columns))))}?)" if closest_names(m, list(map(str, frame.columns))) else f"'{m}'" for m in missing[:20])
        raise KpimlError(f"The data lacks {len(missing)} column(s) the model needs: {hints}", expected="every feature column the model was trained on", got=f"{len(frame.columns)} columns", fix="add the missing columns (with empty values if unknown) or rename them to the trained names")
    known = set(names) | set(contract.get("identifiers", [])) | {contract.get("target")} | set(contract.get("other_columns", []))
    for extra in (str(c) for c in frame.columns if c not in known):
        if extra not in notes.ignored_columns:
            notes.ignored_columns.append(extra)
    for entry in contract["features"]:
        _check_feature(entry, frame[entry["name"]], offset, notes)
    return notes


@dataclass
class PredictSummary:
    rows: int
    out: Path
    seconds: float
    notes: list[str]


class _Writer:
    """Append chunks to a CSV or Parquet file (header / schema from the first chunk)."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        self._parquet: Any = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == "csv":
            frame.to_csv(self.path, mode="w" if self._first else "a", header=self._first, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(str(self.path), table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        self._first = False

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()


def output_kind(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise KpimlError(f"Cannot tell the output format of '{out}'", expected="a file name ending in .csv or .parquet", got=suffix or "no suffix", fix="name the output e.g. scores.csv or scores.parquet")


def score_frame(model: Any, frame: pd.DataFrame, identifiers: list[str]) -> pd.DataFrame:
    """Identifier columns present in `frame`, then `score` and `decision`."""
    pred = model.predict_matrix(frame)
    out = frame[[c for c in identifiers if c in frame.columns]].reset_index(drop=True).copy()
    out["score"] = model.scores_from(pred)
    out["decision"] = model.decisions_from(pred)
    return out


def _chunks(data: str | Path, table: str | None, query: str | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
    from kpiml.data.clean import clean_frame
    from kpiml.data.readers import iter_batches

    for raw in iter_batches(data, table=table, query=query, batch_rows=chunk_rows):
        yield clean_frame(raw)[0]


def predict_file(model_dir: Path, data: str | Path, out: Path, *, table: str | None = None, query: str | None = None, chunk_rows: int = 100_000) -> PredictSummary:
    """Score `data` chunk by chunk into `out` (written atomically: all rows or no file)."""
    from kpiml.artifact import load_bundle
    from kpiml.atomic import atomic_path

    start = time.monotonic()
    kind = output_kind(Path(out))
    bundle = load_bundle(Path(model_dir))
    ids = bundle.contract.get("identifiers", [])
    notes, rows, seen = CheckNotes(), 0, set(ids)
    with atomic_path(Path(out)) as tmp:
        writer = _Writer(tmp, kind)
        try:
            for chunk in _chunks(data, table, query, chunk_rows):
                check_frame(chunk, bundle.contract, rows, notes)
                writer.write(score_frame(bundle.model, chunk, ids))
                rows += len(chunk)
                seen &= set(map(str, chunk.columns))
        finally:
            writer.close()
    missing_ids = [c for c in ids if c not in seen]
    lines = notes.lines() + ([f"Identifier column(s) {', '.join(missing_ids)} not in the data: output rows follow input order"] if missing_ids else [])
    return PredictSummary(rows, Path(out), time.monotonic() - start, lines)
