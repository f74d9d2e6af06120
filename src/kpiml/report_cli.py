"""I/O edge of `kpiml report`: rebuild report.html from a bundle, on its hold-out or new labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report_command(
    model: Annotated[Path, typer.Argument(help="Model bundle folder written by `kpiml train` (DIR/model).", show_default=False)],
    data: Annotated[str | None, typer.Option(help="Labelled rows to evaluate on (CSV, Parquet, database); default: the hold-out stored in the bundle.")] = None,
    out: Annotated[Path | None, typer.Option(help="HTML file to write (default: report.html beside the bundle folder).")] = None,
    table: Annotated[str | None, typer.Option(help="Table name inside a database source.")] = None,
    query: Annotated[str | None, typer.Option(help="SQL query to run on a database source instead of --table.")] = None,
) -> None:
    """Write the model's one-page HTML report: the KPI decision and its worth first, then the evidence.

    Self-contained (no network requests), printable; e.g. `kpiml report proj/model --data test.csv --out test-report.html`.
    """
    from rich.console import Console

    from kpiml.reporting import write_report

    target = out or Path(model).resolve().parent / "report.html"
    page = write_report(model, target, data, table=table, query=query)
    size = target.stat().st_size
    Console(highlight=False).print(f"Report with {page.figures} figures ({size / 1024:,.0f} KiB) written in {page.seconds:.1f} s -> [bold]{target}[/bold]")
