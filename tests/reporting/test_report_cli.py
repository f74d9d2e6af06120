"""`kpiml train` writes report.html and `kpiml report` rebuilds it, on the hold-out or new labelled data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import churn_frame, run_cli, train

EXTERNAL = re.compile(r"<script|<link|<iframe|<img|@import|url\(\s*['\"]?(?!#)|(src|href)=[\"']?(https?:|//)", re.I)


def test_train_writes_a_self_contained_report(churn_project: Path) -> None:
    """Check that training writes report.html: one file under 5 MB, no external reference, every section and figure."""
    page = (churn_project / "report.html").read_text(encoding="utf-8")
    assert len(page.encode()) < 5 * 1024 * 1024
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    for section in ("The decision", "The plan and what training changed", "Models tried", "Quality on the hold-out", "Segments",
                    "What drives the score", "Warnings carried over"):
        assert section in page
    charts = set(re.findall(r'data-chart="([a-z_]+)"', page))
    assert {"profit", "gains", "lift", "roc", "pr", "calibration", "confusion", "importance", "dependence"} <= charts
    assert "<h3>contract</h3>" in page  # the categorical column is a segment


def _printed_profit(text: str) -> str:
    match = re.search(r"earns ([\d,.-]+) \(95 % CI ([\d,.-]+) to ([\d,.-]+)\)", text)
    assert match, text
    return match.group(0)


def test_first_screen_profit_equals_kpiml_roi(churn_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Check that the report's headline profit and interval are the figures `kpiml roi` prints for the same bundle."""
    capsys.readouterr()
    assert run_cli(["roi", str(churn_project / "model")]) == 0
    printed = _printed_profit(capsys.readouterr().out.replace("\n", " "))
    page = (churn_project / "report.html").read_text(encoding="utf-8")
    assert printed in page
    profit = re.search(r'data-figure="profit">([\d,.-]+)<', page)
    assert profit and profit.group(1) == re.search(r"earns ([\d,.-]+)", printed).group(1)  # type: ignore[union-attr]


def test_report_rebuilds_from_the_bundle(churn_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Check that `kpiml report MODEL --out FILE` rebuilds the same page as training wrote, without data."""
    out = tmp_path / "again.html"
    assert run_cli(["report", str(churn_project / "model"), "--out", str(out)]) == 0
    assert "figures" in capsys.readouterr().out
    strip = re.compile(r"\s+")
    assert strip.sub("", out.read_text()) == strip.sub("", (churn_project / "report.html").read_text())


def test_report_on_new_labelled_data(churn_project: Path, tmp_path: Path) -> None:
    """Check that --data scores new labelled rows and reports on them (and says so)."""
    data = tmp_path / "new.csv"
    churn_frame(400, 7).to_csv(data, index=False)
    out = tmp_path / "new.html"
    assert run_cli(["report", str(churn_project / "model"), "--data", str(data), "--out", str(out)]) == 0
    page = out.read_text()
    assert f"Quality on {data} (400 labelled rows" in page and "data-chart=\"roc\"" in page


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "r.pdf"], "does not end in .html"),
    (["--data", "{unlabelled}"], "has no column 'churn'"),
])
def test_report_mistakes_exit_2(churn_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    """Check that a wrong output name or unlabelled data exits 2 with a message naming the problem."""
    unlabelled = tmp_path / "u.csv"
    churn_frame(50, 1).drop(columns="churn").to_csv(unlabelled, index=False)
    args = [str(unlabelled) if a == "{unlabelled}" else str(tmp_path / a) if a.endswith(".pdf") else a for a in args]
    assert run_cli(["report", str(churn_project / "model"), *args]) == 2
    assert message in capsys.readouterr().err.replace("\n", " ")


@pytest.mark.slow
def test_regression_and_multiclass_reports(tmp_path: Path) -> None:
    """Check that a regression report has residual plots, error by segment and value captured, and a multiclass one a confusion matrix."""
    rng = np.random.default_rng(3)
    n = 400
    region = rng.choice(["north", "south", "east"], n)
    size = rng.uniform(1, 10, n)
    frame = pd.DataFrame({"size": size, "region": region, "spend": (20 * size + np.where(region == "north", 30, 0) + rng.normal(0, 5, n)).round(2)})
    (tmp_path / "reg").mkdir()
    project = train(tmp_path / "reg", frame, "spend", [], "linear")
    page = (project / "report.html").read_text()
    assert {"actual", "residuals", "residual_hist", "captured"} <= set(re.findall(r'data-chart="([a-z_]+)"', page))
    assert "<h3>region</h3>" in page and "MAE" in page
    frame["tier"] = np.where(size < 4, "small", np.where(size < 7, "mid", "large"))
    (tmp_path / "mc").mkdir()
    project = train(tmp_path / "mc", frame.drop(columns="spend"), "tier", [], "logistic")
    page = (project / "report.html").read_text()
    assert "Confusion matrix" in page and "one-vs-rest AUC" in page and not EXTERNAL.search(page)
