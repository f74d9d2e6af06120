"""Render a monitoring result as monitor.html (self-contained) and monitor.json.

The only module of `kpiml.monitoring` that writes files. Plots are inline SVG drawn with
matplotlib's object API (no pyplot global state, no network requests), the page comes from
the Jinja2 template `monitor.html.j2`, and both files are written atomically.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from kpiml.atomic import write_text_atomic
from kpiml.monitoring.drift import ColumnDrift
from kpiml.monitoring.live import LiveQuality
from kpiml.monitoring.run import MonitorResult

COLOURS = {"ok": "#6b8e6b", "watch": "#d99a2b", "retrain": "#c0392b"}
MAX_DETAIL = 8


def _svg(fig: Any) -> str:
    """A matplotlib figure as an inline <svg> element (text kept as text)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.find("<svg"):]


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    fig.set_layout_engine("constrained")
    return fig


def drift_overview_svg(columns: list[ColumnDrift], watch: float, retrain: float) -> str:
    """Distance of every column, coloured by level, with the two distance thresholds."""
    ordered = sorted(columns, key=lambda c: c.distance)
    fig = _figure(7, max(1.5, 0.28 * len(ordered) + 0.8))
    ax = fig.add_subplot()
    ax.barh([c.column for c in ordered], [c.distance for c in ordered], color=[COLOURS[c.level] for c in ordered])
    for x, style in ((watch, ":"), (retrain, "--")):
        ax.axvline(x, color="#555", linestyle=style, linewidth=1)
    ax.set_xlabel("KS statistic / total variation distance")
    ax.tick_params(axis="y", labelsize=8)
    return _svg(fig)


def bins_svg(drift: ColumnDrift) -> str:
    """Training versus new share of each bin or category of one column."""
    import numpy as np

    labels = [b.label for b in drift.bins]
    pos = np.arange(len(labels))
    fig = _figure(6, 2.6)
    ax = fig.add_subplot()
    ax.bar(pos - 0.2, [b.reference for b in drift.bins], width=0.4, label="training", color="#8aa6c1")
    ax.bar(pos + 0.2, [b.new for b in drift.bins], width=0.4, label="new", color=COLOURS[drift.level])
    ax.set_xticks(pos, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share of rows")
    ax.set_title(drift.column, fontsize=10)
    ax.legend(fontsize=8)
    return _svg(fig)


def calibration_svg(live: LiveQuality) -> str:
    """Outcome rate against mean score per decile, with the diagonal of perfect calibration."""
    fig = _figure(3.6, 3.4)
    ax = fig.add_subplot()
    xs = [b.mean_score for b in live.calibration]
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1)
    ax.plot(xs, [b.outcome_rate for b in live.calibration], marker="o", color="#2c5d8a")
    ax.set_xlabel("mean score")
    ax.set_ylabel("outcome rate")
    return _svg(fig)


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


def _env() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("kpiml", "templates"), undefined=StrictUndefined, autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v, d=1: "n/a" if v is None else f"{v:.{d}%}"
    env.filters["num"] = lambda v, d=3: "n/a" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:,.{d}g}")
    env.filters["money"] = lambda v: "n/a" if v is None else f"{v:,.0f}"
    return env


def render_html(result: MonitorResult) -> str:
    """The self-contained monitor.html page of one result."""
    from markupsafe import Markup

    svgs = plots(result)
    svgs = {k: Markup(v) if isinstance(v, str) else [(c, Markup(s)) for c, s in v] for k, v in svgs.items()}
    return _env().get_template("monitor.html.j2").render(r=result, plots=svgs, colours=COLOURS)


def write_report(result: MonitorResult, out_dir: Path) -> tuple[Path, Path]:
    """Write monitor.html and monitor.json into `out_dir`; returns their paths."""
    out_dir = Path(out_dir)
    html, js = out_dir / "monitor.html", out_dir / "monitor.json"
    write_text_atomic(js, result.model_dump_json(indent=2))
    write_text_atomic(html, render_html(result))
    return html, js
