"""Tables and the self-contained HTML page of `kpiml forecast` and `kpiml anomalies`.

Plots are inline SVG drawn with the shared chart helpers (`kpiml.reporting.charts`: no pyplot
state, no network, no font files); the page is the template `forecast.html.j2` on the shared
base page (`kpiml.reporting.page`). Only this module
and the CLI edge know about output formats; nothing here writes files.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from kpiml.forecasting.anomalies import AnomalyResult
from kpiml.forecasting.candidates import ENSEMBLE
from kpiml.forecasting.panel import Panel
from kpiml.forecasting.pipeline import ForecastResult

MAX_PLOTS = 24
MAX_ROWS = 200
FORECAST_COLUMNS = ["series", "time", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]


def forecast_table(result: ForecastResult) -> pd.DataFrame:
    """forecast.csv: series, time, forecast, lo_80, hi_80, lo_95, hi_95, then the model used."""
    f = result.forecast
    out = pd.DataFrame({"series": f["unique_id"].to_numpy(), "time": result.panel.freq.to_timestamps(f["ds"].to_numpy())})
    for c in FORECAST_COLUMNS[2:]:
        out[c] = f[c].to_numpy(float)
    out["model"] = f["model"].to_numpy()
    return out


def backtest_table(result: ForecastResult) -> pd.DataFrame:
    """backtest.csv: one row per series and model with MASE, sMAPE, bias and which model was chosen."""
    s = result.scores.rename(columns={"unique_id": "series"})
    s = s[["series", "model", "mase", "smape", "bias", "n_points", "chosen"]].copy()
    s["pool"] = [",".join(result.pools.get(u, [])) if m == ENSEMBLE else "" for u, m in zip(s["series"], s["model"], strict=True)]
    return s.sort_values(["series", "mase"], kind="stable").reset_index(drop=True)


def anomaly_table(result: AnomalyResult, panel: Panel) -> pd.DataFrame:
    """anomalies.csv: series, time, kind, actual, expected, deviation, severity (most severe first)."""
    t = result.table
    return pd.DataFrame({
        "series": t["unique_id"].to_numpy(), "time": panel.freq.to_timestamps(t["ds"].to_numpy()),
        "kind": t["kind"].to_numpy(), "actual": t["actual"].to_numpy(float), "expected": t["expected"].to_numpy(float),
        "deviation": t["deviation"].to_numpy(float), "severity": t["severity"].to_numpy(float).round(2),
    })


def model_summary(result: ForecastResult) -> pd.DataFrame:
    """Mean backtest scores per model and how many series chose it, best first."""
    s = result.scores
    agg = s.groupby("model").agg(mase=("mase", "mean"), smape=("smape", "mean"), bias=("bias", "mean"))
    agg["chosen_for"] = s.loc[s["chosen"]].groupby("model").size().reindex(agg.index).fillna(0).astype(int)
    return agg.sort_values("mase").reset_index()


def shown_series(panel: Panel, limit: int | None = None, first: list[str] | None = None) -> list[str]:
    """Series to plot: those named first (e.g. with anomalies), then the largest by mean level.

    Half as many plots for large collections: each costs a fraction of a second to draw.
    """
    limit = limit or (MAX_PLOTS if panel.n_series <= 1000 else MAX_PLOTS // 2)
    data = panel.data
    order = data["y"].abs().groupby(data["unique_id"], sort=False).mean().sort_values(ascending=False)
    picked = list(dict.fromkeys([*(first or []), *order.index]))
    return [str(u) for u in picked[:limit]]


def _figure() -> tuple[Any, Any]:
    from kpiml.reporting import charts

    fig = charts.figure(6.4, 2.6)
    return fig, charts.axes(fig)


def forecast_svg(result: ForecastResult, uid: str, history_points: int) -> str:
    """History, forecast and its 80 % / 95 % intervals of one series."""
    panel, freq = result.panel, result.panel.freq
    h = panel.data.loc[panel.data["unique_id"] == uid].tail(history_points)
    f = result.forecast.loc[result.forecast["unique_id"] == uid]
    fig, ax = _figure()
    ax.plot(freq.to_timestamps(h["ds"].to_numpy()), h["y"], color="#333", lw=1.1, label="history")
    t = freq.to_timestamps(f["ds"].to_numpy())
    ax.fill_between(t, f["lo_95"], f["hi_95"], color="#9ecae1", alpha=0.5, lw=0, label="95 %")
    ax.fill_between(t, f["lo_80"], f["hi_80"], color="#4292c6", alpha=0.5, lw=0, label="80 %")
    ax.plot(t, f["forecast"], color="#08519c", lw=1.4, label=f"forecast ({result.chosen.get(uid, '')})")
    ax.set_title(uid, fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left", frameon=False)
    return _to_svg(fig, uid)


def anomaly_svg(result: AnomalyResult, panel: Panel, uid: str) -> str:
    """Actual values, the expected path (level + season) and the flagged points of one series."""
    freq = panel.freq
    e = result.expected.loc[result.expected["unique_id"] == uid]
    a = result.table.loc[result.table["unique_id"] == uid]
    fig, ax = _figure()
    t = freq.to_timestamps(e["ds"].to_numpy())
    ax.plot(t, e["y"], color="#333", lw=1.0, label="actual")
    ax.plot(t, e["expected"], color="#6baed6", lw=1.0, ls="--", label="expected (level + season)")
    for kind, colour, marker in (("spike", "#c0392b", "o"), ("level_shift", "#d99a2b", "s")):
        k = a.loc[a["kind"] == kind]
        if len(k):
            ax.scatter(freq.to_timestamps(k["ds"].to_numpy()), k["actual"], color=colour, marker=marker, s=22, zorder=3, label=kind.replace("_", " "))
    ax.set_title(uid, fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left", frameon=False)
    return _to_svg(fig, uid)


def _to_svg(fig: Any, title: str) -> str:
    from kpiml.reporting import charts

    return charts.to_svg(fig, title)


def _records(df: pd.DataFrame, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    return df.head(limit).to_dict("records")


def render_forecast_html(result: ForecastResult, source: str, target: str) -> str:
    """The self-contained page: summary, data issues, per-series plots and the backtest table."""
    from kpiml.reporting.page import render, svg

    panel = result.panel
    uids = shown_series(panel)
    points = max(4 * panel.freq.season_length, 3 * result.windows.horizon, 24)
    chosen = backtest_table(result)
    chosen = chosen.loc[chosen["chosen"]].sort_values("mase", ascending=False)
    page = {
        "mode": "forecast", "source": source, "target": target, "panel": panel, "result": result,
        "issues": panel.issues[:MAX_ROWS], "n_issues": len(panel.issues),
        "models": _records(model_summary(result)), "per_series": _records(chosen), "n_series": panel.n_series,
        "plots": [svg(forecast_svg(result, u, points)) for u in uids], "shown": len(uids),
    }
    return render("forecast.html.j2", p=page)


def render_anomalies_html(result: AnomalyResult, panel: Panel, source: str, target: str) -> str:
    """The same page for `kpiml anomalies`: per-series plots with flagged points and the table."""
    from kpiml.reporting.page import render, svg

    flagged = list(dict.fromkeys(result.table["unique_id"].astype(str)))
    uids = shown_series(panel, first=flagged)
    page = {
        "mode": "anomalies", "source": source, "target": target, "panel": panel, "result": result,
        "issues": panel.issues[:MAX_ROWS], "n_issues": len(panel.issues), "n_series": panel.n_series,
        "anomalies": _records(anomaly_table(result, panel)), "n_anomalies": len(result.table),
        "plots": [svg(anomaly_svg(result, panel, u)) for u in uids], "shown": len(uids),
    }
    return render("forecast.html.j2", p=page)
