"""The `kpiml` command: a thin Typer app that parses, calls one stage, and prints with Rich.

Every user mistake surfaces as a `KpimlError`, printed as one message with exit code 2;
stage modules are imported inside commands so that `kpiml --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from kpiml.errors import KpimlError
from kpiml.kpi_flags import KpiFlags, kpi_options

app = typer.Typer(
    name="kpiml",
    help="KPI-based machine learning: plan, train, report, predict, serve, monitor and forecast for a business KPI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """kpiml turns a table and a KPI into a plan, a model, decisions and monitoring."""


@app.command("plan")
@kpi_options
def plan_command(
    data: Annotated[str | None, typer.Argument(help="Table to plan for: CSV, Parquet, DuckDB/SQLite file or database URL.", show_default=False)] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="Column holding the outcome to predict.")] = None,
    positive: Annotated[str | None, typer.Option(help="Label of the positive class of a binary target, e.g. 'Yes'.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for plan.md, kpiml.yaml and profile.json.")] = Path("kpiml-project"),
    table: Annotated[str | None, typer.Option(help="Table name inside a database source.")] = None,
    query: Annotated[str | None, typer.Option(help="SQL query to run on a database source instead of --table.")] = None,
    budget: Annotated[int | None, typer.Option(min=1, help="Training budget in seconds to write into the plan (default: scaled to the data).")] = None,
    spec: Annotated[Path | None, typer.Option(help="Re-render plan.md from an edited kpiml.yaml instead of profiling data (KPI options update it).")] = None,
    *,
    kpi: KpiFlags,
) -> None:
    """Profile DATA and write a data-driven ML project plan (plan.md), an editable spec (kpiml.yaml) and profile.json.

    KPI options (--benefit-tp, --template churn --clv ..., --capacity) fill the spec's kpi block;
    the plan then states the economics and the primary metric they imply.
    """
    from kpiml.plan_cli import rerender_plan, run_plan

    if spec is not None:
        if data is not None:
            raise KpimlError("Give either DATA with --target, or --spec, not both", fix="drop DATA to re-render from the spec, or drop --spec to plan from data")
        rerender_plan(spec, kpi)
        return
    from kpiml.planning.snapshot import has_snapshot_description

    if data is None or (target is None and not has_snapshot_description(data)):
        raise KpimlError("`kpiml plan` needs DATA and --target (or --spec FILE)", expected="kpiml plan DATA --target COL [--positive LABEL] [--out DIR]", fix="for example: kpiml plan customers.csv --target churn --positive Yes --out churn-project")
    run_plan(data, target=target, positive=positive, out=out, table=table, query=query, budget=budget, kpi=kpi)


def _register_optional_commands() -> None:
    """Stages built in their own modules register here; a module not yet present is skipped."""
    import importlib

    for module, names in (
        ("kpiml.train_cli", ("train_command:train", "predict_command:predict")),
        ("kpiml.roi_cli", ("roi_command:roi",)),
        ("kpiml.report_cli", ("report_command:report",)),
        ("kpiml.forecast_cli", ("forecast_command:forecast", "anomalies_command:anomalies")),
        ("kpiml.snapshots_cli", ("snapshots_command:snapshots",)),
        ("kpiml.serve_cli", ("serve_command:serve",)),
        ("kpiml.monitor_cli", ("monitor_command:monitor",)),
        ("kpiml.retrain_cli", ("retrain_command:retrain",)),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        for pair in names:
            func, command = pair.split(":")
            if hasattr(mod, func):
                app.command(command)(getattr(mod, func))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user mistakes into a message and exit code 2."""
    import click

    _register_optional_commands()
    try:
        code = app(args=argv, standalone_mode=False)
    except KpimlError as exc:
        _print_error(exc.message)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _print_error("Aborted.")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except Exception as exc:  # a bug, not a user mistake: say so briefly, keep the traceback opt-in
        if os.environ.get("KPIML_DEBUG"):
            raise
        _print_error(f"kpiml hit an internal error ({type(exc).__name__}: {exc}). Re-run with KPIML_DEBUG=1 for the traceback and report it.")
        sys.exit(1)
    # Without standalone mode click returns typer.Exit's code instead of raising it.
    sys.exit(code if isinstance(code, int) else 0)


def _print_error(message: str) -> None:
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, highlight=False, soft_wrap=True).print(Text("error: ", style="bold red") + Text(message))


if __name__ == "__main__":
    main()
