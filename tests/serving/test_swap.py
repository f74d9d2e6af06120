"""Model swap: a server on `models:/NAME@champion` follows the alias without dropping a request."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from kpiml.serving import read_decision_log

from .conftest import Server, request_rows

pytestmark = pytest.mark.slow
NAME = "serve-swap"


def _load(url: str, rows: list[dict], seen: dict[str, int], errors: list[str], stop: threading.Event) -> None:
    with httpx.Client(timeout=30) as client:
        i = 0
        while not stop.is_set():
            i += 1
            res = client.post(f"{url}/predict", json=rows[i % len(rows)])
            if res.status_code != 200:
                errors.append(f"{res.status_code}: {res.text[:200]}")
                continue
            version = res.json()["model_version"]
            seen[version] = seen.get(version, 0) + 1


def test_alias_move_swaps_the_model_without_dropping_requests(bundle: Path, tmp_path: Path) -> None:
    """Check that moving the alias to a new version is picked up while four clients keep
    scoring: no request fails, answers move from version 1 to 2, and the log records both."""
    from kpiml.tracking import Tracker

    importing = threading.Thread(target=__import__, args=("mlflow",))
    importing.start()  # MLflow imports for seconds: overlap it with the registration process
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    Tracker(uri, tmp_path).log_run(NAME, {"budget_seconds": 1}, {"cv": {}, "holdout": {}}, [], bundle)
    importing.join()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    client.set_registered_model_alias(NAME, "champion", "1")
    second = client.create_model_version(NAME, source=f"models:/{NAME}/1")
    server = Server(f"models:/{NAME}@champion", tmp_path / "log", "--tracking-uri", uri, "--poll-seconds", "0.5").wait_ready()
    try:
        seen: dict[str, int] = {}
        errors: list[str] = []
        stop = threading.Event()
        threads = [threading.Thread(target=_load, args=(server.url, request_rows(50, seed=k), seen, errors, stop)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        client.set_registered_model_alias(NAME, "champion", second.version)
        deadline = time.monotonic() + 60
        while seen.get(f"{NAME}/2", 0) < 50 and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join()
    finally:
        server.stop()
    assert not errors, errors[:3]
    assert seen.get(f"{NAME}/1", 0) > 0 and seen.get(f"{NAME}/2", 0) >= 50, seen
    assert set(read_decision_log(tmp_path / "log")["model_version"]) == {f"{NAME}/1", f"{NAME}/2"}
    assert "now serving model version serve-swap/2" in server.text()
