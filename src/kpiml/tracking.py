"""MLflow tracking of training runs: parameters, CV and hold-out metrics, leaderboard, bundle.

Importing MLflow and opening (or migrating) its SQLite store costs several CPU-seconds, so a
helper process (`python -m kpiml.tracking`) does it while the search runs, on the other
core and without taking the training process's interpreter lock; at the end the run is
handed to it as one JSON message and it logs everything. The default store is a SQLite file
in the project folder; `--tracking-uri` points elsewhere (a server), and 'none' turns
tracking off. The bundle is registered in the model registry as an MLflow "model from
code" (kpiml/_mlflow_model.py), so `mlflow.pyfunc.load_model("models:/NAME/latest")` works
without any pickle.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from kpiml.errors import KpimlError

EXPERIMENT = "kpiml"
DISABLED = ("none", "off", "false")


def default_tracking_uri(project_dir: Path) -> str:
    return f"sqlite:///{(Path(project_dir) / 'mlflow.db').resolve().as_posix()}"


def ui_command(uri: str) -> str:
    """The command that opens the MLflow UI on this store."""
    return f"mlflow ui --backend-store-uri {uri}" if uri.startswith("sqlite:") else f"open {uri} in a browser"


def model_name(project: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", project).strip("-") or "kpiml-model"


def _flat(prefix: str, data: dict[str, Any]) -> dict[str, float]:
    return {f"{prefix}_{k}": float(v) for k, v in data.items() if isinstance(v, int | float) and v == v}


class Tracker:
    """Starts the helper process at once; `log_run` hands it the run and waits for the result."""

    def __init__(self, uri: str, project_dir: Path) -> None:
        self.uri = uri
        artifacts = (Path(project_dir).resolve() / "mlartifacts").as_uri()
        self._proc = subprocess.Popen([sys.executable, "-m", "kpiml.tracking", uri, artifacts], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def log_run(self, name: str, params: dict[str, Any], metrics: dict[str, Any], files: list[Path], bundle: Path) -> dict[str, str]:
        job = {"name": name, "params": params, "metrics": metrics, "files": [str(f) for f in files], "bundle": str(bundle)}
        out, err = self._proc.communicate(json.dumps(job, default=str), timeout=600)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        reply = json.loads(lines[-1]) if lines else {"error": (err.strip().splitlines() or ["no answer"])[-1]}
        if "error" in reply:
            raise KpimlError(f"MLflow tracking at {self.uri} failed: {reply['error']}"[:500], fix="check --tracking-uri (or pass --tracking-uri none); the model bundle was saved")
        return reply

    def cancel(self) -> None:
        """Stop the helper (training failed): closing its input makes it exit."""
        if self._proc.poll() is None:
            self._proc.communicate("", timeout=60)


def _connect(uri: str, artifacts: str) -> str:
    import mlflow

    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts if uri.startswith("sqlite:") else None))


def _log(experiment: str, job: dict[str, Any]) -> dict[str, str]:
    import mlflow

    code = Path(__file__).with_name("_mlflow_model.py")
    name, metrics = job["name"], job["metrics"]
    with mlflow.start_run(experiment_id=experiment, run_name=name) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in job["params"].items()})
        mlflow.log_metrics({**_flat("cv", metrics.get("cv", {})), **_flat("holdout", metrics.get("holdout", {}))})
        for f in job["files"]:
            mlflow.log_artifact(f)
        info = mlflow.pyfunc.log_model(name="model", python_model=str(code), artifacts={"bundle": job["bundle"]}, pip_requirements=["kpiml"], registered_model_name=model_name(name))
    version = getattr(info, "registered_model_version", None)
    return {"run_id": run.info.run_id, "model_uri": f"models:/{model_name(name)}/{version}" if version else info.model_uri, "experiment_id": experiment}


def _serve(uri: str, artifacts: str) -> int:
    """Helper process: connect, wait for one job on stdin (EOF alone means cancel), log it."""
    import logging
    import warnings

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    try:
        experiment = _connect(uri, artifacts)
        text = sys.stdin.read()
        if not text.strip():
            return 0
        print(json.dumps(_log(experiment, json.loads(text))), flush=True)
        return 0
    except Exception as exc:  # reported to the training process, which turns it into a KpimlError
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1], sys.argv[2]))
