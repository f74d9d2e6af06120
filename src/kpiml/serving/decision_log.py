"""The decision log: every served prediction, appended durably before the client hears of it.

Layout: a folder of segments. Each serving process appends JSON lines to its own segment
(`decisions-<time>-<pid>-<random>.jsonl`, opened with O_APPEND | O_EXCL and held under an
exclusive `flock`), so concurrent workers never interleave bytes in one file and need no
shared lock on the hot path. The micro-batches waiting to be logged are written with one
synchronous `write` (O_DSYNC; `write` + `fdatasync` where the system lacks it) *before* any of
their responses is sent (group commit): a row the client saw acknowledged is on disk, whatever
happens to the process or the machine next.

Crash safety: a process killed mid-write leaves at most one torn line at the end of its own
segment; readers ignore a last line without its newline or that does not parse. A failed write
(disk full) truncates the segment back to its last complete line and fails the batch, so the
segment never holds a torn line followed by good ones.

`compact_decision_log` turns segments whose writer is gone (the `flock` is free) into Parquet
files of the same name, atomically; a segment is removed only after its Parquet twin exists,
and readers skip segments that have one, so a crash during compaction neither loses nor
duplicates rows. `read_decision_log` reads both kinds into one DataFrame for `kpiml monitor`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SEGMENT_GLOB = "decisions-*.jsonl"
LOG_FIELDS = ("request_id", "row", "time", "model_version", "fingerprint", "score", "decision", "expected_value", "control")


def fingerprint_and_json(inputs: dict[str, Any]) -> tuple[str, str]:
    """Canonical JSON of a row's inputs and its SHA-256 prefix: the same inputs, the same print."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16], text


def _json(value: Any) -> str:
    """JSON of one log field; the common types are formatted directly (hot path)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int or (type(value) is float and value == value and value not in (float("inf"), float("-inf"))):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)


def encode_rows(records: list[dict[str, Any]], inputs: list[dict[str, Any]]) -> bytes:
    """JSON lines for the log: each record's fields, its inputs' fingerprint, and the inputs."""
    lines = []
    for record, row_inputs in zip(records, inputs, strict=True):
        digest, text = fingerprint_and_json(row_inputs)
        fields = ",".join(f'"{key}":{_json(value)}' for key, value in record.items())
        lines.append(f'{{{fields},"fingerprint":"{digest}","inputs":{text}}}\n')
    return "".join(lines).encode("utf-8")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Segments are opened with O_DSYNC where the system has it: each write returns once its bytes
# (and the file size) are on disk, as write + fdatasync would, in one system call. The committer
# thread releases and retakes the interpreter lock around every system call, and retaking it
# waits for the event loop thread to let go (up to the switch interval while it scores a batch):
# one call per commit instead of two.
_DSYNC = getattr(os, "O_DSYNC", 0)


class DecisionLogWriter:
    """Appends JSON lines to this process's own segment; `append` returns once they are durable."""

    def __init__(self, folder: Path, *, max_segment_bytes: int = 256 * 1024 * 1024, sync: bool = True) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_segment_bytes, self.sync = max_segment_bytes, sync
        self._lock = threading.Lock()
        self._fd = -1
        self._size = 0
        self.path = self._open_segment()

    def _open_segment(self) -> Path:
        name = f"decisions-{time.time_ns()}-{os.getpid()}-{secrets.token_hex(3)}.jsonl"
        path = self.folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | (_DSYNC if self.sync else 0), 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _fsync_dir(self.folder)  # the new file's name is durable too, not only its bytes
        self._fd, self._size = fd, 0
        return path

    def append(self, data: bytes) -> None:
        """Write `data` (whole lines) and flush it to disk; on failure nothing of it remains."""
        if not data:
            return
        with self._lock:
            if self._fd < 0:
                raise RuntimeError("the decision log is closed")
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
                if self.sync and not _DSYNC:
                    os.fdatasync(self._fd)
            except OSError:
                os.ftruncate(self._fd, self._size)
                raise
            self._size += len(data)
            if self._size >= self.max_segment_bytes:
                self._rotate()

    def _rotate(self) -> None:
        os.close(self._fd)
        self.path = self._open_segment()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _parse_segment(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Complete, parseable lines of a segment, and how many lines were skipped.

    A last line without its newline is a write cut short by a crash: its batch was never
    acknowledged (acknowledgement follows the fsync of whole lines), so it is skipped.
    """
    lines = path.read_bytes().split(b"\n")
    tail = lines.pop()
    records, skipped = [], int(bool(tail.strip()))
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if isinstance(record, dict):
            records.append(record)
    return records, skipped


def _segments(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob(SEGMENT_GLOB) if not p.with_suffix(".parquet").exists())


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame.from_records(records, columns=[*LOG_FIELDS, "identifiers", "inputs"])
    for col in ("identifiers", "inputs"):
        frame[col] = [json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict) else (v or "{}") for v in frame[col]]
    frame["decision"] = frame["decision"].map(lambda v: None if v is None else json.dumps(v))
    return frame


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kpiml.atomic import atomic_path

    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(path.parent)


def compact_decision_log(folder: Path) -> int:
    """Turn the segments of stopped writers into Parquet (same name); returns how many."""
    done = 0
    for seg in _segments(Path(folder)):
        fd = os.open(seg, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer still appends to it
            records, _ = _parse_segment(seg)
            _write_parquet(_frame(records), seg.with_suffix(".parquet"))
            seg.unlink()
            done += 1
        finally:
            os.close(fd)
    return done


def _raw_frames(folder: Path) -> tuple[list[pd.DataFrame], int]:
    import pandas as pd

    frames, skipped = [], 0
    for part in sorted(folder.glob("decisions-*.parquet")):
        frames.append(pd.read_parquet(part))
    for seg in _segments(folder):
        records, lost = _parse_segment(seg)
        skipped += lost
        if records:
            frames.append(_frame(records))
    return frames, skipped


def read_decision_log(path: Path, *, expand: bool = True) -> pd.DataFrame:
    """Every logged prediction, oldest first: one row per scored row.

    Columns: request_id, row, time (UTC), model_version, fingerprint, score, decision,
    expected_value, control, then (with `expand`) one column per identifier and per input
    feature; an input whose name clashes with a log column is prefixed `input.`. Without
    `expand`, `identifiers` and `inputs` stay JSON text. A torn last line of a segment (a
    process killed mid-write) is skipped; `frame.attrs["skipped_lines"]` counts such lines.
    """
    import pandas as pd

    folder = Path(path)
    frames, skipped = _raw_frames(folder) if folder.is_dir() else ([], 0)
    if not frames:
        empty = pd.DataFrame(columns=[*LOG_FIELDS, "identifiers", "inputs"])
        empty.attrs["skipped_lines"] = skipped
        return empty
    frame = pd.concat(frames, ignore_index=True)
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
    frame["decision"] = _decode_decisions(frame["decision"])
    frame["control"] = frame["control"].astype(bool)
    frame = frame.sort_values(["time", "request_id", "row"], kind="stable").reset_index(drop=True)
    if expand:
        frame = _expand(frame)
    frame.attrs["skipped_lines"] = skipped
    return frame


def _decode_decisions(col: pd.Series) -> pd.Series:
    import pandas as pd

    values = [None if v is None or (isinstance(v, float) and v != v) else json.loads(v) for v in col]
    if all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
        return pd.Series(values, index=col.index, dtype="Int64")
    return pd.Series(values, index=col.index, dtype=object)


def _expand(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    ids = pd.DataFrame.from_records([json.loads(v) for v in frame.pop("identifiers")], index=frame.index)
    inputs = pd.DataFrame.from_records([json.loads(v) for v in frame.pop("inputs")], index=frame.index)
    taken = set(frame.columns) | set(ids.columns)
    inputs.columns = [f"input.{c}" if c in taken else c for c in inputs.columns]
    ids = ids[[c for c in ids.columns if c not in frame.columns]]
    return pd.concat([frame, ids, inputs], axis=1)
