"""Tests of the `train` and `predict` commands through Typer, with real files and MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from kpiml.errors import KpimlError
from kpiml.train_cli import predict_command, train_command


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("predict")(predict_command)
    return app


def _data(path: Path, n: int = 400, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    pd.DataFrame({"id": range(n), "x": x, "kind": rng.choice(["a", "b"], n), "target": np.where(x + rng.normal(scale=0.5, size=n) > 0, "pos", "neg")}).to_csv(path, index=False)
    return path


def test_train_then_predict_with_mlflow_registry(tmp_path: Path) -> None:
    """Check the whole CLI path: outputs, MLflow run and registered model, then scoring."""
    data = _data(tmp_path / "d.csv")
    out = tmp_path / "proj"
    runner = CliRunner()
    result = runner.invoke(_app(), ["train", str(data), "--target", "target", "--positive", "pos", "--budget", "20", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert {"model", "leaderboard.csv", "metrics.json", "kpiml.yaml", "mlflow.db"} <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["holdout"]["roc_auc"] > 0.7 and metrics["decisions"]
    board = pd.read_csv(out / "leaderboard.csv")
    assert {"candidate", "cv_mean", "cv_std", "fit_time_s", "trials"} <= set(board.columns)
    assert "mlflow ui --backend-store-uri sqlite:" in result.output.replace("\n", "")

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    versions = client.search_model_versions("name='d'")
    assert versions and versions[0].run_id
    run = client.get_run(versions[0].run_id)
    assert "holdout_roc_auc" in run.data.metrics and "cv_roc_auc" in run.data.metrics

    scored = tmp_path / "scores.parquet"
    result = runner.invoke(_app(), ["predict", str(out / "model"), str(_data(tmp_path / "new.csv", 50, 1)), "--out", str(scored)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert list(pd.read_parquet(scored).columns) == ["id", "score", "decision", "expected_value", "reason_1", "reason_2", "reason_3"]


def test_train_from_an_edited_spec_without_tracking(tmp_path: Path) -> None:
    """Check that `train --spec` retrains from kpiml.yaml into the spec's folder."""
    from kpiml.planning import build_plan
    from kpiml.spec import Candidate, spec_to_yaml

    data = _data(tmp_path / "d.csv")
    plan = build_plan(data, target="target", positive="pos")
    plan.spec.models.candidates = [Candidate(name="logistic")]
    folder = tmp_path / "edited"
    folder.mkdir()
    (folder / "kpiml.yaml").write_text(spec_to_yaml(plan.spec))
    result = CliRunner().invoke(_app(), ["train", "--spec", str(folder / "kpiml.yaml"), "--budget", "6", "--tracking-uri", "none"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    board = pd.read_csv(folder / "leaderboard.csv")
    assert list(board["candidate"]) == ["logistic"]  # a single candidate: no blend row
    assert not (folder / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["train", "x.csv"], KpimlError, "needs DATA and --target"),
        (["train", "x.csv", "--target", "y", "--spec", "k.yaml"], KpimlError, "either DATA with --target, or --spec"),
    ],
)
def test_train_usage_errors(tmp_path: Path, args: list[str], error: type[Exception], message: str) -> None:
    """Check that wrong argument combinations are user errors with a fix."""
    result = CliRunner().invoke(_app(), [*args, "--out", str(tmp_path / "o"), "--tracking-uri", "none"])
    assert isinstance(result.exception, error) and message in str(result.exception)
