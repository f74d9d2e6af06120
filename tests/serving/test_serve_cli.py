"""Tests of `kpiml serve` mistakes (refused before any model loads) and of the app factory."""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kpiml.errors import KpimlError
from kpiml.serve_cli import serve_command
from kpiml.serving import ServeConfig, create_app, read_decision_log

from .conftest import request_rows


def _invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    app = typer.Typer()
    app.command("serve")(serve_command)
    app.command("other")(lambda: None)  # two commands: `serve` is addressed by name as in kpiml
    return CliRunner().invoke(app, ["serve", *args], env=env)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _tampered(bundle: Path, tmp: Path) -> Path:
    copy = Path(shutil.copytree(bundle, tmp / "model"))
    (copy / "contract.json").write_text((copy / "contract.json").read_text().replace("basic", "Basic"))
    return copy


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("missing", KpimlError, "does not exist"),
        ("tampered", KpimlError, "modified or truncated"),
        ("busy", KpimlError, "already in use"),
        ("key_unset", KpimlError, "unset or empty"),
        ("key_short", KpimlError, "shorter than 16"),
        ("unseen", KpimlError, "'reject' or 'accept'"),
    ],
)
def test_user_mistakes_are_refused_with_a_fix(case: str, error: type[Exception], message: str, bundle: Path, tmp_path: Path, busy_port: int) -> None:
    """Check that each serve mistake raises a KpimlError naming it, before the server starts."""
    args = {
        "missing": [str(tmp_path / "nope")],
        "tampered": [str(_tampered(bundle, tmp_path))],
        "busy": [str(bundle), "--port", str(busy_port)],
        "key_unset": [str(bundle), "--api-key-env", "KPIML_NO_SUCH_KEY_VAR"],
        "key_short": [str(bundle), "--api-key-env", "KPIML_SHORT_KEY"],
        "unseen": [str(bundle), "--unseen-categories", "maybe"],
    }[case]
    result = _invoke(args, env={"KPIML_SHORT_KEY": "abc"})
    assert isinstance(result.exception, error) and message in str(result.exception)


def test_the_factory_builds_independent_apps_and_hides_internal_errors(bundle: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Check that two apps from the factory share nothing, and that a failure inside scoring
    answers a plain 500 (no trace, no detail) while the server log keeps the traceback."""
    first = create_app(ServeConfig(model=str(bundle), decision_log=tmp_path / "a", poll_seconds=0))
    second = create_app(ServeConfig(model=str(bundle), decision_log=tmp_path / "b", poll_seconds=0))
    assert first.state.service is not second.state.service
    row = request_rows(1)[0]
    with TestClient(first) as one, TestClient(second) as two:
        assert one.post("/predict", json=row).status_code == 200
        scorer = second.state.service.model.scorer

        def broken(batch: Any) -> Any:
            raise RuntimeError("secret internals at /srv/model")

        scorer.score = broken
        with caplog.at_level(logging.ERROR, logger="kpiml.serve"):
            res = two.post("/predict", json=row)
    assert res.status_code == 500 and "secret" not in res.text and "Traceback" not in res.text
    assert "secret internals" in caplog.text
    assert len(read_decision_log(tmp_path / "a")) == 1 and read_decision_log(tmp_path / "b").empty
