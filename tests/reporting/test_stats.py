"""The report's fast resampled metrics equal scikit-learn's, ties included; charts stay small and inline."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from kpiml.reporting import charts
from kpiml.reporting.stats import average_precision, metric_table, rank_auc


@pytest.mark.parametrize("decimals", [1, 2, 8])
def test_rank_auc_and_average_precision_equal_sklearn(decimals: int) -> None:
    """Check that the hand-written AUC and average precision equal sklearn's, with many or no tied scores."""
    rng = np.random.default_rng(decimals)
    y = rng.integers(0, 2, 700)
    p = np.round(np.clip(0.3 * y + rng.random(700), 0, 1), decimals)
    assert rank_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert average_precision(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_metric_table_intervals_hold_the_estimate() -> None:
    """Check that each metric's interval contains its estimate and narrows with more rows."""
    rng = np.random.default_rng(0)

    def table(n: int) -> dict[str, dict[str, float]]:
        y = rng.integers(0, 2, n)
        p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
        return {r["key"]: r for r in metric_table("binary", y, np.column_stack([1 - p, p]), 200)}

    small, large = table(300), table(3000)
    for key, row in large.items():
        assert row["low"] <= row["estimate"] <= row["high"], key
    assert large["roc_auc"]["high"] - large["roc_auc"]["low"] < small["roc_auc"]["high"] - small["roc_auc"]["low"]


def test_charts_are_inline_svg_with_bounded_size() -> None:
    """Check that a curve of 100,000 points is thinned to a small SVG that references nothing outside itself."""
    x = np.linspace(0, 1, 100_000)
    svg = charts.line_chart([("model", x, x**2)], xlabel="x", ylabel="y", title="A curve")
    assert svg.startswith("<svg") and "<title>A curve</title>" in svg
    assert len(svg) < 60_000 and "<metadata" not in svg
    assert all(ref.startswith("#") for ref in re.findall(r'(?:href|src)="([^"]*)"', svg))
