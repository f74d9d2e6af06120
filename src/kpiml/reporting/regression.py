"""Regression sections: residual plots and value captured when acting on the top k by prediction."""

from __future__ import annotations

from typing import Any

import numpy as np

from kpiml.reporting import charts
from kpiml.reporting.evidence import Evidence

SHARES = (0.05, 0.1, 0.2, 0.3, 0.5)


def residual_plots(evidence: Evidence, target: str) -> list[dict[str, str]]:
    """Predicted against actual, residuals against predicted, and the residuals' distribution."""
    y, pred = np.asarray(evidence.y, dtype=float), np.asarray(evidence.pred, dtype=float)
    residual = y - pred
    return [
        {"name": "actual", "svg": charts.scatter(pred, y, xlabel=f"predicted {target}", ylabel=f"actual {target}", title="Predicted vs actual", diagonal=True),
         "caption": "On the dashed line the prediction is exact."},
        {"name": "residuals", "svg": charts.scatter(pred, residual, xlabel=f"predicted {target}", ylabel="actual − predicted", title="Residuals", hline=0.0),
         "caption": "A pattern (a funnel, a curve) means the error depends on the level."},
        {"name": "residual_hist", "svg": charts.histogram(residual, xlabel="actual − predicted", title="Distribution of residuals"),
         "caption": f"Mean {residual.mean():,.4g} (bias), standard deviation {residual.std():,.4g}."},
    ]


def value_captured(evidence: Evidence) -> tuple[list[dict[str, Any]], str]:
    """Share of the total value in the top k rows by prediction, against a perfect ranking."""
    from kpiml.kpi import value_captured_at

    y, pred = np.asarray(evidence.y, dtype=float), np.asarray(evidence.pred, dtype=float)
    rows = [{"share": k, "model": value_captured_at(y, pred, k), "perfect": value_captured_at(y, y, k)} for k in SHARES]
    frac = np.linspace(0.01, 1.0, 100)
    curves = [("model", frac, np.array([value_captured_at(y, pred, k) for k in frac])),
              ("perfect ranking", frac, np.array([value_captured_at(y, y, k) for k in frac]))]
    svg = charts.line_chart(curves, xlabel="share of rows (highest prediction first)", ylabel="share of total value", title="Value captured at k",
                            diagonal=True, percent_x=True)
    return rows, svg
