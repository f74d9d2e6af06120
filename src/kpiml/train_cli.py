"""I/O edge of `kpiml train` and `kpiml predict`: read, call the stage, write outputs, print.

The command functions carry their Typer annotations so the CLI registers them as they are
(`app.command("train")(train_command)`). Heavy libraries are imported inside them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kpiml.errors import KpimlError
from kpiml.kpi_flags import KpiFlags, kpi_options

if TYPE_CHECKING:
    import pandas as pd

    from kpiml.spec import Spec
    from kpiml.training import TrainResult


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _load_inputs(data: str | None, target: str | None, positive: str | None, spec_path: Path | None, table: str | None, query: str | None, budget: int | None, kpi: KpiFlags | None = None) -> tuple[Spec, pd.DataFrame, bool]:
    """The spec (KPI options applied and checked) and cleaned frame to train on, and whether
    the spec was derived just now; a bad KPI is an error here, before any training."""
    from kpiml.kpi_flags import spec_with_flags
    from kpiml.training._kpi import economics_given, kpi_values

    spec, frame, derived = _read_inputs(data, target, positive, spec_path, table, query, budget)
    spec = spec_with_flags(spec, kpi or KpiFlags())
    if spec.target.problem == "binary" and economics_given(spec):
        kpi_values(spec, frame)  # missing or non-numeric values of the value column fail now
    return spec, frame, derived


def _read_inputs(data: str | None, target: str | None, positive: str | None, spec_path: Path | None, table: str | None, query: str | None, budget: int | None) -> tuple[Spec, pd.DataFrame, bool]:
    if spec_path is not None:
        if data is not None or target is not None:
            raise KpimlError("Give either DATA with --target, or --spec, not both", fix="drop DATA/--target to train from the spec, or drop --spec to plan from data")
        from kpiml.planning import frame_for_spec
        from kpiml.spec import load_spec

        spec = load_spec(spec_path)
        return spec, frame_for_spec(spec), False
    from kpiml.planning.snapshot import has_snapshot_description

    if data is None or (target is None and not has_snapshot_description(data)):
        raise KpimlError("`kpiml train` needs DATA and --target (or --spec FILE)", expected="kpiml train DATA --target COL [--positive LABEL] [--budget SECONDS] [--out DIR]", fix="for example: kpiml train customers.csv --target churn --positive Yes --budget 60")
    from kpiml.planning import build_plan

    plan = build_plan(data, target=target, positive=positive, table=table, query=query, budget=budget)
    return plan.spec, plan.frame, True


def _progress_listener(progress: Any, task: Any, budget: float, metric: str) -> Any:
    def listen(message: str, elapsed: float, best: float | None) -> None:
        fields = {"best": f"best {metric} {best:.4f}"} if best is not None else {}
        progress.update(task, completed=min(elapsed, budget), description=message, **fields)

    return listen


def _train_with_progress(spec: Spec, frame: pd.DataFrame, budget: float, started: float) -> TrainResult:
    """Train under a Rich bar of elapsed (since the command started) versus budget seconds,
    with the best score so far; a ticker thread keeps the clock moving between trials."""
    import threading

    from rich.progress import BarColumn, Progress, TextColumn

    from kpiml.training import train_model

    columns = [TextColumn("{task.description:<26}"), BarColumn(), TextColumn("{task.completed:>4.0f} of {task.total:.0f} s"), TextColumn("{task.fields[best]}")]
    stop = threading.Event()
    with Progress(*columns, console=_console(), transient=False) as progress:
        task = progress.add_task("reading and planning", total=budget, best="")

        def tick() -> None:
            while not stop.wait(0.5):
                progress.update(task, completed=min(time.monotonic() - started, budget))

        threading.Thread(target=tick, daemon=True).start()
        try:
            result = train_model(spec, frame, budget=budget, started=started, listener=_progress_listener(progress, task, budget, spec.metrics.primary),
                                 after_seconds=outputs_estimate(frame))
        finally:
            stop.set()
        progress.update(task, completed=min(time.monotonic() - started, budget), description="done")
    return result


def outputs_estimate(frame: pd.DataFrame) -> float:
    """Idle-machine seconds of `write_outputs` and tracking after training, which the budget
    must leave room for: measured here (CPU seconds, and MLflow's artifact copy) about 4 s on
    5,000 x 20 (mostly the report) and 13 to 18 s on 200,000 x 50 (contract, monitoring
    reference and hold-out predictions grow with the rows; the report's samples do not).
    Large boosters add to the report's explanations: on hotel_rates (10,781 x 28) a blend of
    CatBoost, LightGBM and XGBoost refits of 1,700 to 3,000 rounds took 5.6 to 12 s, so the
    fixed part is 6 s (the command ran 66 s of a 60 s budget with 4 s)."""
    return 6.0 + 8e-7 * len(frame) * max(1, len(frame.columns))


def _metadata(spec: Spec, frame: pd.DataFrame, result: TrainResult) -> dict[str, Any]:
    from kpiml.artifact import library_versions
    from kpiml.data.profile import fingerprint

    digest, _ = fingerprint(frame)
    recorded = spec.model_copy(deep=True)
    recorded.notes = [*recorded.notes, *(f"train: {d}" for d in result.decisions)]
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "spec": recorded.model_dump(mode="json"),
        "libraries": library_versions(),
        "training_data": {"fingerprint": digest, "rows": len(frame), "columns": len(frame.columns), "source": spec.data.source},
        "metrics": result.metrics,
        "operating_point": result.kpi.summary() if result.kpi is not None else {"threshold": result.model.threshold, "source": "multiclass: the most probable class"},
        "decisions": result.decisions,
    }


def _kpi_files(result: TrainResult) -> dict[str, bytes]:
    """operating_point.json and oof.parquet (the OOF rows `kpiml roi` re-chooses the point on)."""
    import io

    from kpiml.artifact import OOF_FILE, OPERATING_POINT_FILE

    kpi = result.kpi
    if kpi is None or kpi.point is None:
        return {}
    files = {OPERATING_POINT_FILE: kpi.point.model_dump_json(indent=2).encode("utf-8")}
    if kpi.oof is not None:
        buffer = io.BytesIO()
        kpi.oof.to_parquet(buffer, index=False)
        files[OOF_FILE] = buffer.getvalue()
    return files


def _reference_files(frame: pd.DataFrame, contract: dict[str, Any], result: TrainResult) -> dict[str, bytes]:
    """reference.json: what `kpiml monitor` compares new data with (features by the contract,
    scores from the calibrated out-of-fold probabilities, hold-out metrics)."""
    from kpiml.monitoring.bundle import reference_file

    oof = result.kpi.oof if result.kpi is not None else None
    scores = None if oof is None else oof["p"].to_numpy()
    return reference_file(frame, contract, scores, result.metrics.get("holdout", {}))


def write_outputs(spec: Spec, frame: pd.DataFrame, result: TrainResult, out: Path) -> dict[str, Path]:
    """DIR/model/ (bundle), DIR/leaderboard.csv and DIR/metrics.json, each written atomically."""
    from kpiml.artifact import save_bundle
    from kpiml.atomic import atomic_path, write_text_atomic
    from kpiml.predicting import build_contract

    contract = build_contract(frame, spec)
    files = {**_kpi_files(result), **_reference_files(frame, contract, result)}
    files.update(_report_files(frame, spec, result))
    bundle = save_bundle(result.model, contract, _metadata(spec, frame, result), out / "model", files)
    with atomic_path(out / "leaderboard.csv") as tmp:
        result.leaderboard.to_csv(tmp, index=False)
    payload = {**result.metrics, "decisions": result.decisions}
    write_text_atomic(out / "metrics.json", json.dumps(payload, indent=2, default=str))
    paths = {"bundle": bundle, "leaderboard": out / "leaderboard.csv", "metrics": out / "metrics.json"}
    return paths | _write_report(bundle, out / "report.html", result.model)


def _report_files(frame: pd.DataFrame, spec: Spec, result: TrainResult) -> dict[str, bytes]:
    """holdout.parquet (hold-out rows with their honest predictions) and leaderboard.csv, for `kpiml report`."""
    from kpiml.reporting.evidence import bundle_files

    return bundle_files(frame, spec, result)


def _write_report(bundle: Path, out: Path, model: Any) -> dict[str, Path]:
    """DIR/report.html from the saved bundle and the model in memory (not reloaded); a failure costs the page, not the trained model."""
    from kpiml.reporting import write_report

    try:
        write_report(bundle, out, model=model)
    except Exception as exc:  # the bundle is saved; say how to retry instead of losing the run
        _console().print(f"[yellow]note:[/yellow] report.html not written ({type(exc).__name__}: {exc}); retry with: kpiml report {bundle}")
        return {}
    return {"report": out}


def _with_ci(figures: dict[str, Any], name: str) -> str:
    value = figures.get(name, float("nan"))
    low, high = figures.get(f"{name}_low"), figures.get(f"{name}_high")
    return f"{value:.4f}" + (f" [95 % CI {low:.4f} to {high:.4f}]" if low is not None and high is not None else "")


def _kpi_lines(result: TrainResult) -> list[str]:
    """The operating point and the hold-out KPI figures, in a few lines."""
    kpi = result.kpi
    if kpi is None or kpi.point is None:
        rule = (kpi.regression_rule or {}) if kpi is not None else {}
        return [f"Decisions: {rule['reason']}"] if rule.get("reason") else []
    point, hold = kpi.point, result.metrics["holdout"]
    bar = "no row" if point.threshold is None else f"{'p' if point.ranking == 'probability' else 'expected value'} >= {point.threshold:.4g}"
    lines = [f"Operating point ({point.kind}): act on {bar}; {point.oof_share:.1%} of {point.oof_rows:,} out-of-fold rows"]
    if kpi.economics and "profit_per_row" in hold:
        lines.append(f"Hold-out at the point: profit per row {_with_ci(hold, 'profit_per_row')}, acting on {hold.get('share_acted', float('nan')):.1%}; "
                     f"best threshold {hold.get('max_profit_per_row', float('nan')):.4f}, regret {hold.get('regret_per_row', float('nan')):.4f}"
                     + (f"; EMP per customer {_with_ci(hold, 'emp_per_customer')}" if "emp_per_customer" in hold else ""))
    return lines


def _print_summary(result: TrainResult, paths: dict[str, Path], tracked: dict[str, str] | None, uri: str | None, seconds: float) -> None:
    from kpiml.tracking import ui_command

    console = _console()
    m = result.metrics
    metric = m["primary_metric"]
    console.print(result.leaderboard[["candidate", "cv_mean", "cv_std", "trials", "fit_time_s", "blend_weight"]].to_string(index=False))
    console.print(f"Model: {', '.join(f'{k} {w:.2f}' for k, w in m['model']['members'].items())}; calibration {m['model']['calibration']}")
    console.print(f"CV {metric} {m['cv'].get(metric, float('nan')):.4f}   hold-out {metric} {_with_ci(m['holdout'], metric)}   ({seconds:.0f} s)")
    for line in _kpi_lines(result):
        console.print(line)
    console.print(f"Bundle: [bold]{paths['bundle']}[/bold]  leaderboard: {paths['leaderboard']}  metrics: {paths['metrics']}")
    if "report" in paths:
        console.print(f"Report: [bold]{paths['report']}[/bold]")
    if tracked and uri:
        console.print(f"MLflow run {tracked['run_id']} registered as {tracked['model_uri']}; open the UI with: {ui_command(uri)}")


def _kpi_params(result: TrainResult) -> dict[str, Any]:
    """The KPI metric and operating point as MLflow parameters (the figures go in as metrics)."""
    kpi = result.kpi
    if kpi is None or kpi.point is None:
        return {}
    p = kpi.point
    return {"kpi_metric": result.metrics["primary_metric"], "kpi_economics": kpi.economics, "operating_point.kind": p.kind,
            "operating_point.ranking": p.ranking, "operating_point.threshold": p.threshold,
            "operating_point.capacity_threshold": p.capacity_threshold, "operating_point.oof_rows": p.oof_rows, "payoff": p.payoff}


@kpi_options
def train_command(
    data: Annotated[str | None, typer.Argument(help="Table to train on: CSV, Parquet, DuckDB/SQLite file or database URL.", show_default=False)] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="Column holding the outcome to predict.")] = None,
    positive: Annotated[str | None, typer.Option(help="Label of the positive class of a binary target.")] = None,
    budget: Annotated[int | None, typer.Option(min=1, help="Total wall-clock seconds for the search (default: the plan's).")] = None,
    out: Annotated[Path | None, typer.Option(help="Project folder for model/, leaderboard.csv, metrics.json (default: the spec's folder, else kpiml-project).")] = None,
    spec: Annotated[Path | None, typer.Option(help="Train from an edited kpiml.yaml instead of planning from DATA.")] = None,
    table: Annotated[str | None, typer.Option(help="Table name inside a database source.")] = None,
    query: Annotated[str | None, typer.Option(help="SQL query to run on a database source instead of --table.")] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default: SQLite file in the project folder; 'none' turns tracking off).")] = None,
    *,
    kpi: KpiFlags,
) -> None:
    """Train, validate and calibrate a model under a time budget; save the bundle, leaderboard and metrics.

    With KPI economics (--benefit-tp/--cost-fp, a template, --capacity) the search maximises the
    KPI on out-of-fold predictions and the bundle stores the operating point chosen for it.
    """
    from kpiml.atomic import write_text_atomic
    from kpiml.clock import command_started
    from kpiml.spec import spec_to_yaml
    from kpiml.tracking import DISABLED, Tracker, default_tracking_uri

    started = command_started()  # the budget is the command's: interpreter start and imports count
    folder = out or (spec.parent if spec is not None else Path("kpiml-project"))
    uri = None if (tracking_uri or "").lower() in DISABLED else (tracking_uri or default_tracking_uri(folder))
    folder.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(uri, folder) if uri else None
    try:
        the_spec, frame, derived = _load_inputs(data, target, positive, spec, table, query, budget, kpi)
        seconds = float(budget or the_spec.models.search.budget_seconds)
        result = _train_with_progress(the_spec, frame, seconds, started)
        if derived:
            write_text_atomic(folder / "kpiml.yaml", spec_to_yaml(the_spec))
        paths = write_outputs(the_spec, frame, result, folder)
    except BaseException:
        if tracker is not None:
            tracker.cancel()
        raise
    tracked = None
    if tracker is not None:
        params = {"budget_seconds": seconds, "problem": the_spec.target.problem, "target": the_spec.target.column, "split": the_spec.split.strategy, "folds": the_spec.split.folds, "members": json.dumps(result.metrics["model"]["members"]), "calibration": result.metrics["model"]["calibration"]}
        params.update({f"{m.name}.{k}": v for m in result.model.members for k, v in m.params.items()})
        params.update(_kpi_params(result))
        tracked = tracker.log_run(the_spec.project.name, params, result.metrics, [paths["leaderboard"], paths["metrics"]], paths["bundle"])
    _print_summary(result, paths, tracked, uri, time.monotonic() - started)


def predict_command(
    model: Annotated[Path, typer.Argument(help="Model bundle folder written by `kpiml train` (DIR/model).", show_default=False)],
    data: Annotated[str, typer.Argument(help="Rows to score: CSV, Parquet, DuckDB/SQLite file or database URL.", show_default=False)],
    out: Annotated[Path, typer.Option(help="Output file, .csv or .parquet: identifiers, score, decision.", show_default=False)],
    table: Annotated[str | None, typer.Option(help="Table name inside a database source.")] = None,
    query: Annotated[str | None, typer.Option(help="SQL query to run on a database source instead of --table.")] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows scored per chunk (bounds memory on large files).")] = 100_000,
    holdout: Annotated[float, typer.Option(min=0.0, max=0.99, help="Control group: share of the rows the model would act on that get decision 0 and control 1, chosen by the identifier's hash (as `kpiml serve --holdout`).")] = 0.0,
    holdout_salt: Annotated[str, typer.Option(help="Salt of the control-group hash (one per campaign; the same as serve's for the same customers).")] = "kpiml-control",
    reasons: Annotated[bool, typer.Option("--reasons/--no-reasons", help="Add reason_1..reason_3: the three strongest contributions to each score in plain words (--no-reasons scores faster).")] = True,
) -> None:
    """Score DATA with a trained model after checking it against the model's input contract.

    With --holdout the output gets a `control` column: control rows are rows the model would
    act on, held out so that `kpiml monitor` can measure the KPI impact; their decision is 0,
    so acting on `decision == 1` leaves them alone.
    """
    from kpiml.predicting import predict_file

    summary = predict_file(model, data, out, table=table, query=query, chunk_rows=chunk_rows, holdout=holdout, holdout_salt=holdout_salt, reasons=3 if reasons else 0)
    console = _console()
    for line in summary.notes:
        console.print(f"[yellow]note:[/yellow] {line}")
    console.print(f"Scored {summary.rows:,} rows in {summary.seconds:.1f} s -> [bold]{summary.out}[/bold]")
