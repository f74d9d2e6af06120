"""Crash test: SIGKILL the server under load; every acknowledged prediction must be in the log."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from kpiml.serving import compact_decision_log, read_decision_log

from .conftest import Server, request_rows

pytestmark = pytest.mark.slow


def _client(url: str, k: int, rows: list[dict], acked: list[str], stop: threading.Event) -> None:
    """Send single rows (and now and then a list) until told to stop or the server is gone."""
    with httpx.Client(timeout=10) as client:
        i = 0
        while not stop.is_set():
            i += 1
            rid = f"kill-{k}-{i}"
            body = rows[(k * 31 + i) % len(rows)] if i % 10 else rows[: 1 + i % 40]
            try:
                res = client.post(f"{url}/predict", json=body, headers={"X-Request-ID": rid})
            except httpx.HTTPError:
                return  # the server was killed: this request was never acknowledged
            if res.status_code == 200:
                acked.append(rid)


def test_killing_the_server_loses_no_acknowledged_row(bundle: Path, tmp_path: Path) -> None:
    """Check that after SIGKILL mid-load the log holds every row the clients got an answer for,
    that a torn last line is skipped, and that the dead writer's segment compacts to Parquet."""
    log_dir = tmp_path / "log"
    server = Server(bundle, log_dir, "--poll-seconds", "0").wait_ready()
    rows, acked, stop = request_rows(300, seed=9), [], threading.Event()
    clients = [threading.Thread(target=_client, args=(server.url, k, rows, acked, stop)) for k in range(12)]
    for t in clients:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 400 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.proc.kill()  # SIGKILL: no shutdown handler runs
    server.proc.wait()
    stop.set()
    for t in clients:
        t.join()
    log = read_decision_log(log_dir)
    assert len(acked) >= 100, "the load did not get going before the kill"
    assert set(acked) <= set(log["request_id"]), f"{len(set(acked) - set(log['request_id']))} acknowledged request(s) missing"
    assert log.attrs["skipped_lines"] <= 1
    assert compact_decision_log(log_dir) == 1
    compacted = read_decision_log(log_dir)
    assert len(compacted) == len(log) and set(acked) <= set(compacted["request_id"])
    assert not list(log_dir.glob("*.jsonl")) and len(list(log_dir.glob("*.parquet"))) == 1
