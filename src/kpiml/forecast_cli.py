"""I/O edge of `kpiml forecast` and `kpiml anomalies`: read, check, compute, write, summarise.

The CLI owner registers the two functions with `app.command("forecast")(forecast_command)`.
Everything is computed and rendered before anything is written, and every file is written
under a temporary name and renamed, so a failure leaves no half-written output.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from kpiml.atomic import atomic_path, write_text_atomic

if TYPE_CHECKING:
    import pandas as pd

    from kpiml.forecasting.panel import Panel

console = Console(highlight=False, stderr=False)

DataArg = Annotated[str, typer.Argument(help="Long table: CSV, Parquet, DuckDB/SQLite file or database URL; one row per series and period.", show_default=False)]
TimeOpt = Annotated[str, typer.Option("--time", help="Column holding the period (dates, or decimal years such as 1982.25).", show_default=False)]
TargetOpt = Annotated[str, typer.Option("--target", help="Numeric KPI column to forecast.", show_default=False)]
SeriesOpt = Annotated[list[str] | None, typer.Option("--series", help="Column(s) identifying a series; repeat for several. Leave out for one series.")]
TableOpt = Annotated[str | None, typer.Option(help="Table name inside a database source.")]
QueryOpt = Annotated[str | None, typer.Option(help="SQL query to run on a database source instead of --table.")]
DupOpt = Annotated[str, typer.Option("--duplicates", help="Rows sharing a series and period: refuse, or aggregate by sum, mean or last.")]
SeasonOpt = Annotated[int | None, typer.Option("--season-length", help="Periods per season (default from the frequency: 12 monthly, 7 daily, ...).")]


def read_source(location: str, table: str | None = None, query: str | None = None) -> pd.DataFrame:
    """Read the user's table with kpiml's shared readers (CSV, Parquet, DuckDB, SQLite, SQL URLs)."""
    from kpiml.data.readers import read_table

    return read_table(location, table=table, query=query)


@contextmanager
def _progress(label: str) -> Iterator[object]:
    """A Rich progress line whose text follows the stage being computed."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda text: bar.update(task, description=text)


def _panel(data: str, time: str, target: str, series: list[str] | None, exog: list[str] | None, horizon: int,
           duplicates: str, season_length: int | None, table: str | None, query: str | None) -> Panel:
    from kpiml.forecasting.panel import build_panel

    frame = read_source(data, table, query)
    return build_panel(frame, time=time, target=target, series=series, exog=exog, horizon=horizon,
                       duplicates=duplicates, season_length=season_length, source=str(data))


def forecast_command(
    data: DataArg,
    time: TimeOpt,
    target: TargetOpt,
    series: SeriesOpt = None,
    horizon: Annotated[int, typer.Option("--horizon", help="Periods to forecast after each series' last value.", show_default=False)] = ...,  # type: ignore[assignment]
    out: Annotated[Path, typer.Option("--out", help="Folder for forecast.csv, backtest.csv and forecast.html.")] = Path("kpiml-forecast"),
    exog: Annotated[list[str] | None, typer.Option("--exog", help="Column known in advance (price, promotion ...); its future values go in rows with an empty target.")] = None,
    models: Annotated[list[str] | None, typer.Option("--models", help="Models to try (SeasonalNaive is always kept); default: all that fit --budget.")] = None,
    budget: Annotated[float, typer.Option("--budget", help="Seconds the per-series statistical models may take (estimated before running).")] = 60.0,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes / threads (default: all cores).")] = 0,
    duplicates: DupOpt = "refuse",
    season_length: SeasonOpt = None,
    table: TableOpt = None,
    query: QueryOpt = None,
) -> None:
    """Forecast one or many series with intervals, choosing a model per series by rolling-origin backtest."""
    from kpiml.forecasting.pipeline import ForecastSettings, run_forecast
    from kpiml.forecasting.report import backtest_table, forecast_table, render_forecast_html

    panel = _panel(data, time, target, series, exog, horizon, duplicates, season_length, table, query)
    settings = ForecastSettings(horizon=horizon, models=models, budget_s=budget, n_jobs=jobs or os.cpu_count() or 1)
    with _progress(f"Forecasting {panel.n_series:,} series") as step:
        result = run_forecast(panel, settings, step)  # type: ignore[arg-type]
        step("writing the report")  # type: ignore[operator]
        fc, bt = forecast_table(result), backtest_table(result)
        html = render_forecast_html(result, source=str(data), target=target)
    _write_csv(fc, out / "forecast.csv")
    _write_csv(bt, out / "backtest.csv")
    write_text_atomic(out / "forecast.html", html)
    _print_forecast_summary(result, out)


def anomalies_command(
    data: DataArg,
    time: TimeOpt,
    target: TargetOpt,
    series: SeriesOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for anomalies.csv and anomalies.html.")] = Path("kpiml-anomalies"),
    threshold: Annotated[float, typer.Option("--threshold", help="Spikes: deviation from the neighbours' level in robust standard deviations of the local noise.")] = 3.5,
    shift_threshold: Annotated[float, typer.Option("--shift-threshold", help="Level shifts: z-score of the jump between the periods before and after.")] = 5.0,
    duplicates: DupOpt = "refuse",
    season_length: SeasonOpt = None,
    table: TableOpt = None,
    query: QueryOpt = None,
) -> None:
    """Flag points and level shifts that the seasonal model does not explain, with a severity and the expected value."""
    from kpiml.forecasting.anomalies import AnomalySettings, detect_anomalies
    from kpiml.forecasting.report import anomaly_table, render_anomalies_html

    panel = _panel(data, time, target, series, None, 1, duplicates, season_length, table, query)
    observed = _observed(panel)
    with _progress(f"Looking for anomalies in {panel.n_series:,} series"):
        result = detect_anomalies(panel.data, panel.freq.season_length, observed, AnomalySettings(threshold, shift_threshold))
        table_out = anomaly_table(result, panel)
        html = render_anomalies_html(result, panel, source=str(data), target=target)
    _write_csv(table_out, out / "anomalies.csv")
    write_text_atomic(out / "anomalies.html", html)
    kinds = table_out["kind"].value_counts().to_dict()
    console.print(f"{len(table_out):,} anomalies in {panel.n_series:,} series ({kinds.get('spike', 0):,} spikes, {kinds.get('level_shift', 0):,} level shifts).")
    console.print(f"Table: [bold]{out / 'anomalies.csv'}[/bold]  page: {out / 'anomalies.html'}")


def _observed(panel: Panel) -> pd.Series:
    """Points kpiml interpolated into gaps are not observations and are never flagged."""
    return panel.observed if panel.observed is not None else panel.data["y"].notna()


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _print_forecast_summary(result: object, out: Path) -> None:
    from rich.table import Table

    from kpiml.forecasting.report import model_summary

    r = result  # ForecastResult; typed loosely to keep this module's imports light
    t = Table(title=None, box=None, pad_edge=False)
    for c in ("model", "mean MASE", "mean sMAPE %", "chosen for"):
        t.add_column(c, justify="left" if c == "model" else "right")
    for row in model_summary(r).itertuples():  # type: ignore[arg-type]
        t.add_row(str(row.model), f"{row.mase:.3f}", f"{row.smape:.2f}", f"{row.chosen_for:,}")
    console.print(t)
    cov = r.coverage  # type: ignore[attr-defined]
    console.print(f"Backtest coverage of the intervals: 80 % -> {cov[80]:.1%}, 95 % -> {cov[95]:.1%}.")
    for name, why in r.plan.skipped.items():  # type: ignore[attr-defined]
        console.print(f"[yellow]note:[/yellow] {name} not run: {why}.")
    console.print(f"Forecast: [bold]{out / 'forecast.csv'}[/bold]  backtest: {out / 'backtest.csv'}  page: {out / 'forecast.html'}")
