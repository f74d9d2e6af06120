"""Fixtures shared by the whole test suite (keep them small and generic)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
_START_POSTGRES = ROOT / "scripts" / "start_postgres.sh"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> NoReturn:
    """Fail under CI (a silently skipped database test proves nothing); skip locally."""
    if _in_ci():
        pytest.fail(f"PostgreSQL is required under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the test PostgreSQL server: $KPIML_PG_URL, or one scripts/start_postgres.sh starts.

    The server is left running after the session (other sessions may share it); stop it with
    `scripts/start_postgres.sh stop`.
    """
    url = os.environ.get("KPIML_PG_URL", "").strip()
    if url:
        return url
    try:
        done = subprocess.run(
            ["bash", str(_START_POSTGRES)], capture_output=True, text=True, timeout=900, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"{_START_POSTGRES.name} could not run: {exc}")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        _unavailable(f"{_START_POSTGRES.name} exited with {done.returncode}:\n{tail}")
    return lines[-1]
