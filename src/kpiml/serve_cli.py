"""I/O edge of `kpiml serve`: check the settings, then run the FastAPI app under uvicorn.

The command function carries its Typer annotations so the CLI registers it as it is
(`app.command("serve")(serve_command)`). FastAPI, uvicorn and the model are imported inside it.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from kpiml.errors import KpimlError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, stderr=True)


def check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on, before minutes of model loading are spent."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise KpimlError(f"Port {port} on {host} is already in use", got=str(exc), fix=f"stop the process on port {port} or pass another --port") from None
            raise KpimlError(f"Cannot listen on {host}:{port}", got=str(exc), fix="pass a local address such as 127.0.0.1 (or 0.0.0.0 to listen on every interface)") from None


def check_api_key(name: str | None) -> None:
    """The API key's variable must hold a key; its value is never printed."""
    if name is None:
        return
    value = os.environ.get(name, "")
    if not value.strip():
        raise KpimlError(f"--api-key-env names the environment variable {name}, which is unset or empty", expected="the API key in that variable", fix=f"export {name}=<a long random key> before `kpiml serve` (e.g. from a secret store)")
    if len(value) < 16:
        raise KpimlError(f"The API key in {name} is shorter than 16 characters", expected="a long random key", got=f"{len(value)} characters", fix="generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_source(model: str, tracking_uri: str | None) -> None:
    """Fail fast on a missing or tampered bundle (hashes checked) or an unknown registry alias."""
    from kpiml.serving.config import ServeConfig
    from kpiml.serving.source import ModelSource

    source = ModelSource(ServeConfig(model=model, tracking_uri=tracking_uri))
    try:
        if source.is_registry:
            source.version_key()
            return
        path = Path(model)
        if not path.is_dir():
            raise KpimlError(f"Model folder {model} does not exist", expected="DIR/model written by `kpiml train`, or models:/NAME@ALIAS", fix="check the path, or train first with `kpiml train`")
        from kpiml.artifact import verify_bundle

        verify_bundle(path)
    finally:
        source.cleanup()


def _run(config: Any, host: str, port: int, workers: int, access_log: bool) -> None:
    import uvicorn

    from kpiml.serving.app import configure_logging

    configure_logging()

    kwargs = {"host": host, "port": port, "access_log": access_log, "log_level": "info", "server_header": False, "timeout_graceful_shutdown": 30}
    if workers == 1:
        from kpiml.serving.app import create_app

        uvicorn.run(create_app(config), **kwargs)  # type: ignore[arg-type]
        return
    metrics_dir = Path(tempfile.mkdtemp(prefix="kpiml-metrics-"))
    config = config.model_copy(update={"metrics_dir": metrics_dir})
    os.environ.update(config.to_env())
    try:
        uvicorn.run("kpiml.serving.app:app_from_env", factory=True, workers=workers, **kwargs)  # type: ignore[arg-type]
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def serve_command(
    model: Annotated[str, typer.Argument(help="Bundle folder (DIR/model) or MLflow model URI, e.g. models:/churn@champion.", show_default=False)],
    host: Annotated[str, typer.Option(help="Address to listen on; loopback unless you mean to expose it (then set --api-key-env).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes (each loads the model).")] = 1,
    api_key_env: Annotated[str | None, typer.Option(help="Require an API key (X-API-Key header), read from this environment variable.")] = None,
    holdout: Annotated[float, typer.Option(min=0.0, max=0.99, help="Control group: share of the rows the model would act on that get decision 0, chosen by the identifier's hash.")] = 0.0,
    holdout_salt: Annotated[str, typer.Option(help="Salt of the control-group hash (one per campaign).")] = "kpiml-control",
    decision_log: Annotated[Path, typer.Option(help="Folder of the decision log (every prediction, appended before it is answered).")] = Path("decision-log"),
    max_rows: Annotated[int, typer.Option(min=1, help="Most rows per request (413 above).")] = 10_000,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body in MiB (413 above).")] = 32.0,
    range_tolerance: Annotated[float, typer.Option(min=0.0, help="Refuse (422) numbers beyond the training range by more than this share of the range; values in between are scored with a note.")] = 0.5,
    no_range_check: Annotated[bool, typer.Option("--no-range-check", help="Score any finite number, however far outside the training range (a note says so).")] = False,
    unseen_categories: Annotated[str, typer.Option(help="'reject' (422) or 'accept' (scored as an unknown category, with a note) categories not seen in training.")] = "reject",
    poll_seconds: Annotated[float, typer.Option(min=0.0, help="Check the model source for a new version this often and swap it in (0 = never).")] = 30.0,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI for models:/ sources (default: MLFLOW_TRACKING_URI).")] = None,
    access_log: Annotated[bool, typer.Option(help="uvicorn access log lines (off by default: the decision log records every prediction).")] = False,
    reasons: Annotated[int, typer.Option(min=0, max=20, help="Top reasons per row in each answer (0 = none; explaining a batch costs more than scoring it).")] = 3,
    fast_path: Annotated[bool, typer.Option(help="Score through the compiled numpy path when it reproduces the sklearn pipeline.")] = True,
    batch_window_ms: Annotated[float, typer.Option(min=0.0, max=1000.0, help="Under concurrent load, wait this long for more requests before scoring them together (0 = score at once).")] = 2.0,
) -> None:
    """Serve a model over HTTP: POST /predict, GET /health, /model, /metrics, docs at /docs."""
    from kpiml.serving.config import ServeConfig

    if unseen_categories not in ("reject", "accept"):
        raise KpimlError(f"--unseen-categories must be 'reject' or 'accept', not {unseen_categories!r}", fix="pass --unseen-categories reject (or accept)")
    check_api_key(api_key_env)
    check_port(host, port)
    check_source(model, tracking_uri)
    if not _is_loopback(host) and api_key_env is None:
        _console().print(f"[yellow]warning:[/yellow] listening on {host} without an API key: anyone who can reach this address can score rows (set --api-key-env)")
    config = ServeConfig(model=model, decision_log=decision_log, holdout=holdout, holdout_salt=holdout_salt, api_key_env=api_key_env, max_body_bytes=int(max_body_mb * 1024 * 1024), max_rows=max_rows, range_tolerance=None if no_range_check else range_tolerance, unseen_categories=unseen_categories, poll_seconds=poll_seconds, tracking_uri=tracking_uri, reasons=reasons, fast_path=fast_path, batch_window_ms=batch_window_ms)  # type: ignore[arg-type]
    _console().print(f"Serving {model} on http://{host}:{port} (docs at /docs); decision log: {decision_log}")
    _run(config, host, port, workers, access_log)
