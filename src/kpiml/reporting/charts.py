"""Charts as inline SVG, drawn with matplotlib's object API, for every kpiml HTML page.

Why SVG from matplotlib: the pages must open offline and print sharply, so every figure is
vector markup inside the HTML (no scripts, no image requests). Text stays text and names
system fonts only (`svg.fonttype: none` with a generic sans-serif fallback), which keeps each
figure a few kilobytes and the page free of font downloads. No pyplot: its global state is
neither thread-safe nor needed. Curves with many points are thinned before drawing, so a
figure's size does not grow with the number of rows behind it.

Speed (the report is drawn at the end of every training run): matplotlib spends most of a
figure's time laying out text. The charts here use fixed margins sized from their labels'
lengths instead of constrained layout (which draws the figure once more to measure it), and
pin titles (`y=1`) so the axes need not measure their tick labels to place them: about a
third of a chart's former cost.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

BLUE, GREY, ORANGE, RED, GREEN = "#2c5d8a", "#8c8c8c", "#d99a2b", "#c0392b", "#6b8e6b"
PALETTE = (BLUE, ORANGE, GREEN, RED, "#7b5ea7", "#4aa3a2", GREY)
MAX_POINTS = 400
_RC: dict[Any, Any] = {
    "svg.fonttype": "none",  # text as <text>, rendered with the reader's system fonts
    "svg.hashsalt": "kpiml",  # deterministic ids: the same figure gives the same markup
    "font.family": ["sans-serif"],
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial", "Liberation Sans", "sans-serif"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,  # grid lines behind bars, not across them
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
}


def figure(width: float = 4.6, height: float = 3.2, *, fitted: bool = True, left: float = 0.85, bottom: float = 0.55) -> Any:
    """A new matplotlib Figure (inches) in kpiml's style.

    `fitted` lays it out with constrained layout (for callers whose labels are of unknown
    length); `fitted=False` uses fixed margins (`left` and `bottom` in inches, e.g. from
    `label_inches`), which saves the extra draw constrained layout costs (about half a
    chart's rendering time).
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, height))
        if fitted:
            fig.set_layout_engine("constrained")
        else:
            left, bottom = min(left, 0.6 * width), min(bottom, 0.6 * height)
            fig.subplots_adjust(left=left / width, right=1 - 0.2 / width, bottom=bottom / height, top=1 - 0.35 / height)
    return fig


def label_inches(labels: Sequence[Any], size: float = 9.0) -> float:
    """Width in inches the longest label may take at `size` points: a fixed margin that fits it.

    0.6 em a character is DejaVu Sans's average, wider than the system fonts a browser uses,
    so the margin errs on the roomy side; measuring each label instead is what made
    constrained layout cost as much as the chart itself.
    """
    return max((len(str(v)) for v in labels), default=0) * 0.6 * size / 72


def to_svg(fig: Any, title: str = "") -> str:
    """The figure as an inline <svg> element, with a <title> for screen readers and tooltips."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})  # constrained layout already fits the text
    text = buf.getvalue()
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.find("<svg"):], flags=re.S)  # RDF licence block: not needed inline
    if title:
        from markupsafe import escape

        head = svg.find(">") + 1
        svg = f"{svg[:head]}<title>{escape(title)}</title>{svg[head:]}"
    return svg


def axes(fig: Any, **kwargs: Any) -> Any:
    """One subplot styled by kpiml's rc settings (the style applies when axes are created)."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        return fig.add_subplot(**kwargs)


def thin(x: np.ndarray, *ys: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, ...]:
    """At most `limit` points of a curve, evenly spaced by index, first and last kept."""
    x = np.asarray(x)
    if len(x) <= limit:
        return (x, *map(np.asarray, ys))
    idx = np.unique(np.linspace(0, len(x) - 1, limit).round().astype(int))
    return (x[idx], *(np.asarray(y)[idx] for y in ys))


def line_chart(curves: Sequence[tuple[str, np.ndarray, np.ndarray]], *, xlabel: str, ylabel: str, title: str = "",
               diagonal: bool = False, marks: Sequence[tuple[str, float, float]] = (), percent_x: bool = False,
               size: tuple[float, float] = (4.6, 3.2)) -> str:
    """Named curves (label, x, y), optional y = x diagonal and labelled points (label, x, y)."""
    fig = figure(*size, fitted=False)
    ax = axes(fig)
    if diagonal:
        ax.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=1, label="random / perfect calibration" if not curves else None)
    for i, (label, x, y) in enumerate(curves):
        xs, ys = thin(x, y)
        ax.plot(xs, ys, color=PALETTE[i % len(PALETTE)], linewidth=1.6, label=label or None)
    for label, mx, my in marks:
        ax.plot([mx], [my], marker="o", color=RED, markersize=6, zorder=4, linestyle="none")
        ax.annotate(label, (mx, my), textcoords="offset points", xytext=(6, -12), fontsize=8, color=RED)
    _finish(ax, xlabel, ylabel, title, legend=len(curves) > 1)
    if percent_x:
        from matplotlib.ticker import PercentFormatter

        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    return to_svg(fig, title)


def bar_chart(labels: Sequence[str], values: Sequence[float] | np.ndarray, *, xlabel: str, title: str = "",
              errors: Sequence[float] | np.ndarray | None = None, colours: Sequence[str] | None = None, width: float = 4.6) -> str:
    """Horizontal bars, first label on top; with `errors`, dots with whiskers instead (e.g. a fold spread)."""
    n = len(labels)
    left = label_inches(labels) + 0.2
    xlabel = _wrapped(xlabel, width - left - 0.2)
    fig = figure(width, max(1.4, 0.26 * n + 0.9), fitted=False, left=left, bottom=0.4 + 0.15 * (xlabel.count("\n") + 1) if xlabel else 0.35)
    ax = axes(fig)
    pos = np.arange(n)[::-1]
    if errors is not None:  # estimates with a spread: dots and whiskers, the axis need not start at 0
        ax.errorbar(values, pos, xerr=errors, fmt="o", color=BLUE, ecolor="#333", capsize=3, elinewidth=1)
        ax.set_ylim(-0.7, n - 0.3)
    else:
        ax.barh(pos, values, color=list(colours) if colours else BLUE, height=0.65)
    ax.set_yticks(pos, [str(v) for v in labels])
    ax.grid(axis="y", visible=False)
    _finish(ax, xlabel, "", title)
    return to_svg(fig, title)


def grouped_bars(labels: Sequence[str], groups: Sequence[tuple[str, Sequence[float], str]], *, ylabel: str,
                 title: str = "", size: tuple[float, float] = (6.0, 2.6)) -> str:
    """Vertical bars side by side per label: groups are (name, values, colour)."""
    rotate = len(labels) > 4
    fig = figure(*size, fitted=False, left=0.75 if ylabel else 0.5, bottom=(0.72 * label_inches(labels, 7) if rotate else 0.15) + 0.3)
    ax = axes(fig)
    pos = np.arange(len(labels))
    width = 0.8 / max(1, len(groups))
    for i, (name, values, colour) in enumerate(groups):
        ax.bar(pos + (i - (len(groups) - 1) / 2) * width, values, width=width, label=name, color=colour)
    ax.set_xticks(pos, [str(v) for v in labels], rotation=45 if rotate else 0, ha="right" if rotate else "center", fontsize=7)
    ax.grid(axis="x", visible=False)
    _finish(ax, "", ylabel, title, legend=len(groups) > 1)
    return to_svg(fig, title)


def heatmap(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str], *, xlabel: str, ylabel: str, title: str = "") -> str:
    """A small count matrix (e.g. a confusion matrix) with each cell's count and row share."""
    m = np.asarray(matrix, dtype=float)
    side = 1.2 + 0.55 * max(len(rows), len(cols))
    left = label_inches(rows) + (0.45 if ylabel else 0.2)
    width = min(max(side + 1.2, left + label_inches([title], 10) + 0.2), 7.0)  # wide enough for the title over the cells
    fig = figure(width, min(side, 6.0), fitted=False, left=left, bottom=0.6)
    ax = axes(fig)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    # pcolormesh, not imshow: cells stay vector paths instead of an embedded PNG
    ax.pcolormesh(np.arange(m.shape[1] + 1) - 0.5, np.arange(m.shape[0] + 1) - 0.5, share, cmap="Blues", vmin=0, vmax=1, edgecolors="white", linewidth=1)
    ax.invert_yaxis()
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, f"{v:,.0f}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8, color="white" if share[i, j] > 0.6 else "#222")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.grid(visible=False)
    _finish(ax, xlabel, ylabel, title)
    return to_svg(fig, title)


def scatter(x: np.ndarray, y: np.ndarray, *, xlabel: str, ylabel: str, title: str = "", diagonal: bool = False,
            hline: float | None = None, limit: int = 800, seed: int = 0) -> str:
    """Points (a random sample of at most `limit`), with an optional y = x line or a horizontal line."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) > limit:
        keep = np.random.default_rng(seed).choice(len(x), limit, replace=False)
        x, y = x[keep], y[keep]
    fig = figure(fitted=False)
    ax = axes(fig)
    ax.scatter(x, y, s=6, alpha=0.45, color=BLUE, linewidths=0)
    if diagonal and len(x):
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], color=GREY, linestyle="--", linewidth=1)
    if hline is not None:
        ax.axhline(hline, color=GREY, linestyle="--", linewidth=1)
    _finish(ax, xlabel, ylabel, title)
    return to_svg(fig, title)


def histogram(values: np.ndarray, *, xlabel: str, title: str = "", bins: int = 40) -> str:
    """Distribution of one quantity (e.g. residuals)."""
    fig = figure(fitted=False)
    ax = axes(fig)
    ax.hist(np.asarray(values, dtype=float), bins=bins, color=BLUE, alpha=0.85)
    _finish(ax, xlabel, "rows", title)
    return to_svg(fig, title)


def _wrapped(text: str, inches: float, size: float = 9.0) -> str:
    """`text` broken into lines that fit `inches` at `size` points (fixed margins do not shrink text to fit)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, max(12, int(inches * 72 / (0.55 * size))))) if text else text


def _finish(ax: Any, xlabel: str, ylabel: str, title: str, legend: bool = False) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10, loc="left", y=1.0, pad=6)  # a set y: no measuring of the axes to place it
    if legend:
        ax.legend(fontsize=7, frameon=False)
