"""MLflow tracking of training runs: parameters, CV and hold-out metrics, leaderboard, bundle.

MLflow is imported lazily and, because importing it and opening its SQLite store takes
seconds, in a background thread started before the search, so the budget is spent on
models. The default store is a SQLite file in the project folder; `--tracking-uri` points
elsewhere (a server), and the value 'none' turns tracking off. The bundle is registered in
the model registry as an MLflow "model from code" (kpiml/_mlflow_model.py), so
`mlflow.pyfunc.load_model("models:/NAME/latest")` works without any pickle.
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kpiml.errors import KpimlError

EXPERIMENT = "kpiml"
DISABLED = ("none", "off", "false", "")


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
    """Connects to MLflow in the background; `log_run` waits for it, then logs everything."""

    def __init__(self, uri: str, project_dir: Path) -> None:
        self.uri = uri
        self.artifacts = Path(project_dir).resolve() / "mlartifacts"
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpiml-mlflow")
        self._experiment: Future[str] = self._pool.submit(self._connect)

    def _connect(self) -> str:
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = self.artifacts.as_uri() if self.uri.startswith("sqlite:") else None
        return str(mlflow.create_experiment(EXPERIMENT, artifact_location=location))

    def log_run(self, name: str, params: dict[str, Any], metrics: dict[str, Any], files: list[Path], bundle: Path) -> dict[str, str]:
        try:
            experiment = self._experiment.result()
            return self._pool.submit(self._log, experiment, name, params, metrics, files, bundle).result()
        except KpimlError:
            raise
        except Exception as exc:  # a tracking failure must not lose the trained model
            raise KpimlError(f"MLflow tracking at {self.uri} failed: {type(exc).__name__}: {exc}"[:400], fix="check --tracking-uri (or pass --tracking-uri none); the model bundle was saved") from None
        finally:
            self._pool.shutdown(wait=False)

    def _log(self, experiment: str, name: str, params: dict[str, Any], metrics: dict[str, Any], files: list[Path], bundle: Path) -> dict[str, str]:
        import mlflow

        code = Path(__file__).with_name("_mlflow_model.py")
        with mlflow.start_run(experiment_id=experiment, run_name=name) as run:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics({**_flat("cv", metrics.get("cv", {})), **_flat("holdout", metrics.get("holdout", {}))})
            for f in files:
                mlflow.log_artifact(str(f))
            info = mlflow.pyfunc.log_model(name="model", python_model=str(code), artifacts={"bundle": str(bundle)}, pip_requirements=["kpiml"], registered_model_name=model_name(name))
        version = getattr(info, "registered_model_version", None)
        return {"run_id": run.info.run_id, "model_uri": f"models:/{model_name(name)}/{version}" if version else info.model_uri, "experiment_id": experiment}
