"""Tests of the decision log: round trip, torn tails, concurrent writers, failed writes, compaction."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
from pathlib import Path

import pandas as pd
import pytest

from kpiml.serving.decision_log import (
    DecisionLogWriter,
    compact_decision_log,
    encode_rows,
    fingerprint_and_json,
    read_decision_log,
)


def _records(request_id: str, n: int, decision: object = 1) -> tuple[list[dict], list[dict]]:
    records = [{"request_id": request_id, "row": i, "time": f"2026-01-01T00:00:0{i % 10}.000001+00:00", "model_version": "v1", "score": 0.5 + i / 100, "decision": decision, "expected_value": None, "control": i % 2 == 0, "identifiers": {"customer_id": f"C{i}"}} for i in range(n)]
    inputs = [{"tenure": float(i), "plan": "basic", "score": 7} for i in range(n)]
    return records, inputs


def test_rows_round_trip_with_identifiers_and_inputs_as_columns(tmp_path: Path) -> None:
    """Check that logged rows come back with typed log fields, identifiers and input columns."""
    writer = DecisionLogWriter(tmp_path)
    writer.append(encode_rows(*_records("r1", 3)))
    writer.close()
    log = read_decision_log(tmp_path)
    assert log["request_id"].tolist() == ["r1"] * 3 and log["row"].tolist() == [0, 1, 2]
    assert str(log["decision"].dtype) == "Int64" and log["control"].tolist() == [True, False, True]
    assert log["customer_id"].tolist() == ["C0", "C1", "C2"] and log["tenure"].tolist() == [0.0, 1.0, 2.0]
    assert "input.score" in log.columns  # an input named like a log field keeps both
    assert isinstance(log["time"].dtype, pd.DatetimeTZDtype)


def test_fingerprint_ignores_key_order() -> None:
    """Check that the same inputs in another key order have the same fingerprint."""
    assert fingerprint_and_json({"a": 1, "b": "x"})[0] == fingerprint_and_json({"b": "x", "a": 1})[0]
    assert fingerprint_and_json({"a": 1})[0] != fingerprint_and_json({"a": 2})[0]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    """Check that a write cut short by a crash (no newline) loses only that unacknowledged line."""
    writer = DecisionLogWriter(tmp_path)
    writer.append(encode_rows(*_records("ok", 4)))
    torn = encode_rows(*_records("torn", 1))
    with writer.path.open("ab") as fh:
        fh.write(torn[: len(torn) // 2])
    log = read_decision_log(tmp_path)
    assert log["request_id"].tolist() == ["ok"] * 4 and log.attrs["skipped_lines"] == 1


def _write_many(folder: str, tag: str) -> None:
    writer = DecisionLogWriter(Path(folder))
    for b in range(40):
        writer.append(encode_rows(*_records(f"{tag}-{b}", 5)))
    writer.close()


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    """Check that four processes appending at once give every row exactly once, each in its own segment."""
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), f"w{k}")) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    log = read_decision_log(tmp_path)
    assert len(log) == 4 * 40 * 5 and log.attrs["skipped_lines"] == 0
    assert log.groupby("request_id").size().eq(5).all() and len(list(tmp_path.glob("*.jsonl"))) == 4


def test_a_failed_write_leaves_no_partial_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that when the disk fills up halfway through a batch the batch is rolled back and
    later batches still land."""
    writer = DecisionLogWriter(tmp_path)
    writer.append(encode_rows(*_records("first", 2)))
    size = writer.path.stat().st_size
    real_write, calls = os.write, []

    def broken(fd: int, data: bytes) -> int:  # half the bytes land, then the disk is full
        calls.append(fd)
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", broken)
    monkeypatch.setattr(os, "fdatasync", lambda fd: None)
    with pytest.raises(OSError, match="No space"):
        writer.append(encode_rows(*_records("lost", 3)))
    assert writer.path.stat().st_size == size
    monkeypatch.undo()
    writer.append(encode_rows(*_records("after", 1)))
    assert sorted(set(read_decision_log(tmp_path)["request_id"])) == ["after", "first"]


def test_compaction_takes_only_stopped_writers_and_never_duplicates(tmp_path: Path) -> None:
    """Check that a live writer's segment is left alone, a stopped one becomes Parquet, and a
    crash between writing the Parquet file and removing the segment does not double rows."""
    live = DecisionLogWriter(tmp_path)
    live.append(encode_rows(*_records("live", 2)))
    stopped = DecisionLogWriter(tmp_path)
    stopped.append(encode_rows(*_records("stopped", 3)))
    stopped.close()
    assert compact_decision_log(tmp_path) == 1
    assert live.path.exists() and stopped.path.with_suffix(".parquet").exists() and not stopped.path.exists()
    again = DecisionLogWriter(tmp_path)
    again.append(encode_rows(*_records("again", 2)))
    again.close()
    parquet = again.path.with_suffix(".parquet")
    read_decision_log(tmp_path, expand=False).iloc[0:0].to_parquet(parquet)  # a twin exists: the segment is skipped
    assert sorted(set(read_decision_log(tmp_path)["request_id"])) == ["live", "stopped"]
    parquet.unlink()
    assert len(read_decision_log(tmp_path)) == 7
    fd = os.open(live.path, os.O_RDONLY)
    with pytest.raises(BlockingIOError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def test_an_empty_or_missing_log_reads_as_an_empty_frame(tmp_path: Path) -> None:
    """Check that monitoring gets an empty frame with the log columns before any prediction."""
    assert read_decision_log(tmp_path / "nowhere").empty
    assert {"request_id", "score", "decision", "control"} <= set(read_decision_log(tmp_path).columns)


def test_every_append_is_on_disk_when_it_returns(tmp_path: Path) -> None:
    """Check that the segment is written synchronously (O_DSYNC, where the system has it): a
    row acknowledged after `append` must survive a power cut, which a killed process cannot show."""
    writer = DecisionLogWriter(tmp_path)
    if getattr(os, "O_DSYNC", 0):
        assert fcntl.fcntl(writer._fd, fcntl.F_GETFL) & os.O_DSYNC
    assert not fcntl.fcntl(DecisionLogWriter(tmp_path / "unsynced", sync=False)._fd, fcntl.F_GETFL) & getattr(os, "O_DSYNC", 0)
