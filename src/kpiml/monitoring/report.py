"""Render a monitoring result as monitor.html (self-contained) and monitor.json.

The only module of `kpiml.monitoring` that writes files. Plots are inline SVG from the shared
chart helpers (`kpiml.reporting.charts`), the page is the template `monitor.html.j2` on the
shared base page (`kpiml.reporting.page`), and both files are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kpiml.atomic import write_text_atomic
from kpiml.monitoring.drift import ColumnDrift
from kpiml.monitoring.live import LiveQuality
from kpiml.monitoring.run import MonitorResult

COLOURS = {"ok": "#6b8e6b", "watch": "#d99a2b", "retrain": "#c0392b"}
MAX_DETAIL = 8


def drift_overview_svg(columns: list[ColumnDrift], watch: float, retrain: float) -> str:
    """Distance of every column, coloured by level, with the two distance thresholds."""
    from kpiml.reporting import charts

    ordered = sorted(columns, key=lambda c: c.distance)
    fig = charts.figure(7, max(1.5, 0.28 * len(ordered) + 0.8))
    ax = charts.axes(fig)
    ax.barh([c.column for c in ordered], [c.distance for c in ordered], color=[COLOURS[c.level] for c in ordered])
    for x, style in ((watch, ":"), (retrain, "--")):
        ax.axvline(x, color="#555", linestyle=style, linewidth=1)
    ax.set_xlabel("KS statistic / total variation distance")
    ax.tick_params(axis="y", labelsize=8)
    return charts.to_svg(fig, "Drift of every column")


def bins_svg(drift: ColumnDrift) -> str:
    """Training versus new share of each bin or category of one column."""
    from kpiml.reporting import charts

    groups = [("training", [b.reference for b in drift.bins], "#8aa6c1"), ("new", [b.new for b in drift.bins], COLOURS[drift.level])]
    return charts.grouped_bars([b.label for b in drift.bins], groups, ylabel="share of rows", title=drift.column)


def calibration_svg(live: LiveQuality) -> str:
    """Outcome rate against mean score per decile, with the diagonal of perfect calibration."""
    import numpy as np

    from kpiml.reporting import charts

    xs = np.array([b.mean_score for b in live.calibration])
    rates = np.array([b.outcome_rate for b in live.calibration])
    return charts.line_chart([("", xs, rates)], xlabel="mean score", ylabel="outcome rate", title="Calibration", diagonal=True, size=(3.6, 3.4))


def plots(result: MonitorResult) -> dict[str, Any]:
    """Every SVG the page shows, by name."""
    t = result.thresholds
    cols = result.drift.columns
    flagged = [c for c in cols if c.level != "ok"]
    detail = (flagged or sorted(cols, key=lambda c: -c.distance)[:4])[:MAX_DETAIL]
    out: dict[str, Any] = {"overview": drift_overview_svg(cols, t.distance_watch, t.distance_retrain) if cols else "",
                           "columns": [(c, bins_svg(c)) for c in detail]}
    out["score"] = bins_svg(result.drift.score) if result.drift.score is not None else ""
    out["calibration"] = calibration_svg(result.live) if result.live is not None and result.live.calibration else ""
    return out


def render_html(result: MonitorResult) -> str:
    """The self-contained monitor.html page of one result."""
    from kpiml.reporting.page import render, svg

    svgs = {k: svg(v) if isinstance(v, str) else [(c, svg(s)) for c, s in v] for k, v in plots(result).items()}
    return render("monitor.html.j2", r=result, plots=svgs, colours=COLOURS)


def write_report(result: MonitorResult, out_dir: Path) -> tuple[Path, Path]:
    """Write monitor.html and monitor.json into `out_dir`; returns their paths."""
    out_dir = Path(out_dir)
    html, js = out_dir / "monitor.html", out_dir / "monitor.json"
    write_text_atomic(js, result.model_dump_json(indent=2))
    write_text_atomic(html, render_html(result))
    return html, js
