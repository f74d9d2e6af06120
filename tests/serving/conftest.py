"""Fixtures of the serving tests: a small real model and real `kpiml serve` processes on loopback.

The model is trained once per session on a synthetic churn table with every feature kind the
contract knows (numbers with and without missing values, categories, a yes/no flag, a date)
and an identifier, so the request schema, the fast path and the control group all have
something to bite on. Servers are started as separate processes with the real CLI, because
the kill test needs a process to kill and the load must cross a real socket.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

API_KEY_ENV = "KPIML_TEST_SERVE_KEY"


def churn_table(n: int, seed: int = 0) -> pd.DataFrame:
    """A churn-like table: churn falls with tenure, rises on the basic plan and with charges."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    charges = np.round(rng.uniform(20, 120, n), 2)
    charges[rng.random(n) < 0.08] = np.nan
    z = -0.05 * tenure + (plan == "basic") * 1.5 + 0.01 * np.nan_to_num(charges, nan=60) + rng.normal(scale=0.6, size=n) - 0.3
    return pd.DataFrame({
        "customer_id": [f"C{seed}-{i}" for i in range(n)],
        "tenure": tenure,
        "plan": plan,
        "monthly_charges": charges,
        "paperless": rng.choice(["Yes", "No"], n),
        "signup": (pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")).strftime("%Y-%m-%d"),
        "churn": np.where(z > 0, "left", "stayed"),
    })


def request_rows(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """Rows as a client would send them (JSON types, null for missing values)."""
    frame = churn_table(n, seed).drop(columns="churn")
    return list(json.loads(frame.to_json(orient="records")))


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model bundle (logistic + LightGBM) trained in a few seconds."""
    from kpiml.planning import build_plan
    from kpiml.spec import Candidate
    from kpiml.train_cli import write_outputs
    from kpiml.training import train_model

    folder = tmp_path_factory.mktemp("serve-model")
    churn_table(600).to_csv(folder / "train.csv", index=False)
    plan = build_plan(folder / "train.csv", target="churn", positive="left")
    plan.spec.models.candidates = [Candidate(name="logistic"), Candidate(name="lightgbm")]
    result = train_model(plan.spec, plan.frame, budget=6)
    return Path(write_outputs(plan.spec, plan.frame, result, folder / "project")["bundle"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A `kpiml serve` process on a free loopback port."""

    def __init__(self, model: str | Path, log_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.output = log_dir.parent / f"server-{self.port}.out"
        command = [sys.executable, "-m", "kpiml.cli", "serve", str(model), "--port", str(self.port), "--decision-log", str(log_dir), *args]
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def wait_ready(self, timeout: float = 120.0) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kpiml serve exited with {self.proc.returncode}:\n{self.text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"kpiml serve did not answer /health within {timeout} s:\n{self.text()}")

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def api_key() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def server(bundle: Path, api_key: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The main server: API key required, 30 % control group, small limits to test 413s."""
    log_dir = tmp_path_factory.mktemp("serve-log") / "decisions"
    srv = Server(bundle, log_dir, "--api-key-env", API_KEY_ENV, "--holdout", "0.3", "--max-rows", "10000", "--max-body-mb", "8", "--poll-seconds", "0", env={API_KEY_ENV: api_key})
    try:
        yield srv.wait_ready()
    finally:
        srv.stop()
