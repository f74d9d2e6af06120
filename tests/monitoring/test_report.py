"""Tests of kpiml.monitoring.report: monitor.html (self-contained) and monitor.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from kpiml.monitoring import kpi_impact, live_quality, monitor, simulate_campaign
from kpiml.monitoring.report import render_html, write_report
from kpiml.monitoring.run import MonitorResult

from .conftest import churn_score, shift_numeric


@pytest.fixture(scope="module")
def full_result(churn_setup: tuple) -> MonitorResult:
    """A retrain result with every section: drift, quality, live quality and impact."""
    ref, contract, tr, te, yte = churn_setup
    new = shift_numeric(te, "monthly_charges", 0.5, tr["monthly_charges"].std())
    f = simulate_campaign(5_000, 0.25, 0.05, 0.1, 0).frame
    live = live_quality(yte.to_numpy(), churn_score(new), reference_auc=0.8, act=churn_score(new) > 0.5,
                        expected_value=np.full(len(new), 5.0), realised_value=np.full(len(new), 4.0))
    impact = kpi_impact(f["churn"], f["act"], f["control"], f["value"])
    return monitor(ref, new, scores=churn_score(new), contract=contract, live=live, impact=impact, model="churn-v1", source="new.csv")


def test_files_are_written(full_result: MonitorResult, tmp_path: Path) -> None:
    """Check that monitor.html and monitor.json are written and the JSON loads back as the result."""
    html, js = write_report(full_result, tmp_path / "out")
    assert html.name == "monitor.html" and js.name == "monitor.json"
    assert MonitorResult.model_validate_json(js.read_text()) == full_result
    assert json.loads(js.read_text())["verdict"]["level"] == "retrain"


@pytest.fixture(scope="module")
def page(full_result: MonitorResult) -> str:
    return render_html(full_result)


def test_page_is_self_contained(page: str) -> None:
    """Check that the page loads nothing from the network: no scripts, links or remote images."""
    assert "<script" not in page and "<link" not in page
    urls = set(re.findall(r"(?:src|href)=[\"']([^\"']+)", page))
    assert not [u for u in urls if not u.startswith("#")], urls
    assert page.count("<svg") >= 4  # overview, the drifted column, scores, calibration


def test_page_shows_verdict_reasons_and_sections(page: str) -> None:
    """Check that the verdict, its reasons and every section appear on the page."""
    for text in ("retrain", "monthly_charges", "Feature drift", "Prediction drift", "Data quality", "Live quality", "KPI impact", "Money the decisions made"):
        assert text in page


def test_minimal_result_renders(churn_setup: tuple) -> None:
    """Check that a result with drift only (no scores, contract, outcomes) renders."""
    ref, _, _, te, _ = churn_setup
    page = render_html(monitor(ref, te))
    assert "Live quality" not in page and "<svg" in page and ">ok<" in page
