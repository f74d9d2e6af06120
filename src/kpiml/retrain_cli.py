"""I/O edge of `kpiml retrain`: train a challenger with the champion's spec, compare, promote or keep.

Steps: read the champion bundle and its spec; read the new training data as `kpiml train
--spec` would; hold out the most recent labelled window (`kpiml.monitoring.retrain`); train
the challenger on the rest with the same spec through train_cli's training path and save it
as a full project folder; score both models on the window and compare them on the KPI metric
with a paired bootstrap (`kpiml.monitoring.challenger`); promote only when the challenger is
better beyond noise. The decision is kept in DIR/retrain_history.jsonl and DIR/champion.json
and, with tracking on, in the MLflow registry (alias `champion`, tags on the version).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kpiml.errors import KpimlError

if TYPE_CHECKING:
    import pandas as pd

    from kpiml.monitoring.challenger import ChallengerComparison
    from kpiml.spec import Spec

ALIAS = "champion"


def _spec_for(bundle: Any, data: str) -> Spec:
    """The champion's spec pointed at the new data (notes of the earlier training dropped)."""
    from kpiml.spec import Spec

    spec = Spec.model_validate(bundle.metadata["spec"])
    if spec.target.problem != "binary":
        raise KpimlError(f"`kpiml retrain` compares binary models on their KPI; this model is {spec.target.problem}",
                         fix="retrain with `kpiml train --spec kpiml.yaml` and compare the metrics yourself")
    data_block = spec.data.model_copy(update={"source": str(data), "table": None, "query": None})
    return spec.model_copy(update={"data": data_block, "notes": [n for n in spec.notes if not n.startswith("train: ")]})


def _read(spec: Spec) -> pd.DataFrame:
    from kpiml.planning import frame_for_spec

    if "://" not in spec.data.source and not Path(spec.data.source).exists():
        raise KpimlError(f"The new training data '{spec.data.source}' does not exist", expected="a CSV, Parquet or database file with the target column",
                         fix="check the path (relative paths start from the current folder)")
    return frame_for_spec(spec)


def _champion_version(folder: Path, model: Path) -> str | None:
    """The registry version of the champion, known when an earlier retrain recorded it."""
    import json

    from kpiml.monitoring.retrain import CHAMPION_FILE

    file = folder / CHAMPION_FILE
    if not file.is_file():
        return None
    saved = json.loads(file.read_text(encoding="utf-8"))
    return saved.get("version") if Path(saved.get("model", "")).resolve() == model.resolve() else None


def _compare(bundle: Any, challenger: Any, spec: Spec, window: pd.DataFrame, n_boot: int) -> tuple[ChallengerComparison, list[str]]:
    """Paired bootstrap of the KPI metric of both models on the window."""
    from kpiml.monitoring.challenger import compare_challenger
    from kpiml.monitoring.retrain import comparison_metric
    from kpiml.training._train import encode_target

    y, _ = encode_target(window, spec)
    name, metric, note = comparison_metric(spec)
    champ = bundle.model.predict_matrix(window)[:, 1]
    chall = challenger.predict_matrix(window)[:, 1]
    return compare_challenger(y, champ, chall, metric, metric_name=name, n_boot=n_boot, seed=spec.split.seed), [note] if note else []


def _registry(uri: str, name: str, version: str, promoted: bool, comparison: ChallengerComparison) -> None:
    """Tags on the challenger's registry version; the `champion` alias moves to it when promoted."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    tags = {"retrain.decision": "promoted" if promoted else "kept champion", "retrain.metric": comparison.metric,
            "retrain.difference": f"{comparison.difference.estimate:+.5g} [{comparison.difference.low:+.5g}, {comparison.difference.high:+.5g}]"}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if promoted:
        client.set_registered_model_alias(name, ALIAS, version)


def _track(uri: str | None, folder: Path, spec: Spec, result: Any, paths: dict[str, Path], comparison: ChallengerComparison) -> tuple[str | None, str | None]:
    """Log the challenger run and register it; returns (model name, version) or (None, None)."""
    if uri is None:
        return None, None
    from kpiml.tracking import Tracker, model_name

    params = {"retrain": True, "metric": comparison.metric, "difference": comparison.difference.estimate, "promote": comparison.promote}
    tracked = Tracker(uri, folder).log_run(spec.project.name, params, result.metrics, [paths["leaderboard"], paths["metrics"]], paths["bundle"])
    found = re.search(r"/(\d+)$", tracked.get("model_uri", ""))
    version = found.group(1) if found else None
    name = model_name(spec.project.name)
    if version is not None:
        _registry(uri, name, version, comparison.promote, comparison)
    return name, version


def retrain_command(
    model: Annotated[Path, typer.Argument(help="The champion: a model bundle folder written by `kpiml train` (DIR/model).", show_default=False)],
    data: Annotated[str, typer.Argument(help="New labelled training data (CSV, Parquet or database file), newest rows last or with the spec's time column.", show_default=False)],
    out: Annotated[Path | None, typer.Option(help="Project folder for challengers/, retrain_history.jsonl and champion.json (default: the champion's project folder).")] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default: SQLite file in the project folder; 'none' turns tracking off).")] = None,
    budget: Annotated[int | None, typer.Option(min=1, help="Training budget of the challenger in seconds (default: the spec's).")] = None,
    window: Annotated[float, typer.Option(min=0.05, max=0.5, help="Share of the most recent labelled rows both models are compared on (never trained on by the challenger).")] = 0.2,
    n_boot: Annotated[int, typer.Option(min=100, help="Paired bootstrap resamples of the comparison.")] = 1000,
) -> None:
    """Train a challenger with the champion's spec on new data; promote it only if it beats the champion beyond noise.

    Both models are scored on the most recent labelled window of DATA (held out from the
    challenger's training) and compared on the KPI metric with a paired bootstrap; the
    challenger is promoted when the lower end of the 95 % interval of the difference is above
    zero. The decision is appended to DIR/retrain_history.jsonl, DIR/champion.json names the
    bundle to serve, and with tracking the registry alias `champion` moves to the promoted version.
    """
    from kpiml.artifact import load_bundle
    from kpiml.monitoring.retrain import (
        RetrainRecord,
        append_history,
        recent_window,
        write_champion,
    )
    from kpiml.tracking import DISABLED, default_tracking_uri
    from kpiml.train_cli import _console, _train_with_progress, write_outputs

    started = time.monotonic()
    champion_path = Path(model).resolve()
    bundle = load_bundle(champion_path)
    folder = (out or champion_path.parent).resolve()
    spec = _spec_for(bundle, data)
    frame = _read(spec)
    time_column = next((c.name for c in spec.columns if c.use == "time"), None)
    older, recent, how = recent_window(frame, window, time_column)
    result = _train_with_progress(spec, older, float(budget or spec.models.search.budget_seconds), started)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = write_outputs(spec, older, result, folder / "challengers" / stamp)
    comparison, notes = _compare(bundle, result.model, spec, recent, n_boot)
    uri = None if (tracking_uri or "").lower() in DISABLED else (tracking_uri or default_tracking_uri(folder))
    _, version = _track(uri, folder, spec, result, paths, comparison)
    after = str(paths["bundle"].resolve()) if comparison.promote else str(champion_path)
    old_version = _champion_version(folder, champion_path)
    record = RetrainRecord(data=str(data), champion=str(champion_path), champion_version=old_version, challenger=str(paths["bundle"].resolve()),
                           challenger_version=version, train_rows=len(older), window=how, comparison=comparison, promoted=comparison.promote,
                           champion_after=after, notes=notes)
    history = append_history(folder, record)
    write_champion(folder, after, version if comparison.promote else old_version)
    console = _console()
    console.print(f"{'[bold green]Promoted[/]' if comparison.promote else '[yellow]Kept the champion[/]'}: {comparison.reason} ({how})")
    for note in notes:
        console.print(f"[dim]note:[/dim] {note}")
    console.print(f"Champion now: [bold]{after}[/bold]" + (f" (registry version {version}, alias '{ALIAS}')" if comparison.promote and version else ""))
    console.print(f"History: {history}")
