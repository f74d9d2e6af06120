"""`kpiml forecast` and `kpiml anomalies` through a Typer app: files, columns, page, errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from kpiml.errors import KpimlError
from kpiml.forecast_cli import anomalies_command, forecast_command

app = typer.Typer()
app.command("forecast")(forecast_command)
app.command("anomalies")(anomalies_command)


def sales_table(n_months: int = 60, stores: int = 3, seed: int = 0) -> pd.DataFrame:
    """Monthly sales of a few stores: trend, season, noise; store 'B' has a spike in month 40."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_months)
    rows = []
    for i, store in enumerate("ABCDEFGH"[:stores]):
        y = 200 + 50 * i + 0.8 * t + 25 * np.sin(2 * np.pi * t / 12 + i) + rng.normal(0, 4, n_months)
        if store == "B":
            y[40] += 90
        rows.append(pd.DataFrame({"store": store, "month": pd.date_range("2019-01-31", periods=n_months, freq="ME").strftime("%Y-%m-%d"), "sales": y.round(2)}))
    return pd.concat(rows, ignore_index=True)


def invoke(args: list[str]) -> object:
    return CliRunner().invoke(app, args)


def test_forecast_writes_csvs_and_page(tmp_path: Path) -> None:
    """Check that `forecast` writes forecast.csv (contract columns), backtest.csv and a self-contained page."""
    data = tmp_path / "sales.csv"
    sales_table().to_csv(data, index=False)
    out = tmp_path / "fc"
    res = invoke(["forecast", str(data), "--time", "month", "--target", "sales", "--series", "store", "--horizon", "6",
                  "--out", str(out), "--models", "AutoTheta,LightGBM"])
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    fc = pd.read_csv(out / "forecast.csv", parse_dates=["time"])
    assert list(fc.columns[:7]) == ["series", "time", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert len(fc) == 18 and set(fc["series"]) == {"A", "B", "C"}
    assert fc["time"].min() == pd.Timestamp("2024-01-31") and fc["time"].max() == pd.Timestamp("2024-06-30")
    assert ((fc["lo_95"] <= fc["lo_80"]) & (fc["lo_80"] <= fc["forecast"]) & (fc["forecast"] <= fc["hi_80"]) & (fc["hi_80"] <= fc["hi_95"])).all()
    bt = pd.read_csv(out / "backtest.csv")
    assert {"series", "model", "mase", "smape", "bias", "chosen"} <= set(bt.columns)
    assert set(bt["model"]) == {"SeasonalNaive", "AutoTheta", "LightGBM", "Ensemble"}
    assert bt.groupby("series")["chosen"].sum().eq(1).all()
    html = (out / "forecast.html").read_text()
    assert html.count("<svg") == 3 and "Backtest per series" in html
    assert not re.search(r"<script|<link|@import|(src|href)=\"https?:", html)


def test_forecast_single_series_without_series_column(tmp_path: Path) -> None:
    """Check that a table with one series needs no --series and names the series after the target."""
    data = tmp_path / "one.csv"
    sales_table(stores=1).drop(columns="store").to_csv(data, index=False)
    res = invoke(["forecast", str(data), "--time", "month", "--target", "sales", "--horizon", "3", "--out", str(tmp_path / "o"), "--models", "AutoTheta"])
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert set(pd.read_csv(tmp_path / "o" / "forecast.csv")["series"]) == {"sales"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time", "date"], r"Column 'date' given to --time is not in .*sales.csv.*did you mean"),
        (["--horizon", "0"], r"--horizon must be at least 1"),
        (["--horizon", "50"], r"3 series are too short for --horizon 50"),
        (["--models", "Prophet"], r"Unknown model 'Prophet' in --models"),
    ],
)
def test_forecast_user_mistakes(tmp_path: Path, args: list[str], message: str) -> None:
    """Check that CLI mistakes surface as a KpimlError with the fix, and nothing is written."""
    data = tmp_path / "sales.csv"
    sales_table().to_csv(data, index=False)
    base = {"--time": "month", "--target": "sales", "--series": "store", "--horizon": "6", "--out": str(tmp_path / "fc")}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    res = invoke(["forecast", str(data), *[x for kv in base.items() for x in kv]])
    assert isinstance(res.exception, KpimlError)  # type: ignore[attr-defined]
    assert re.search(message, str(res.exception), flags=re.S)  # type: ignore[attr-defined]
    assert not (tmp_path / "fc").exists()


def test_anomalies_writes_table_and_page(tmp_path: Path) -> None:
    """Check that `anomalies` finds the injected spike and writes anomalies.csv and a page."""
    data = tmp_path / "sales.csv"
    sales_table().to_csv(data, index=False)
    out = tmp_path / "an"
    res = invoke(["anomalies", str(data), "--time", "month", "--target", "sales", "--series", "store", "--out", str(out)])
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    table = pd.read_csv(out / "anomalies.csv", parse_dates=["time"])
    assert list(table.columns) == ["series", "time", "kind", "actual", "expected", "deviation", "severity"]
    top = table.iloc[0]
    assert (top["series"], top["time"], top["kind"]) == ("B", pd.Timestamp("2022-05-31"), "spike")
    assert top["deviation"] == pytest.approx(90, abs=15) and top["severity"] > 5
    html = (out / "anomalies.html").read_text()
    assert "Flagged points" in html and "<svg" in html and "<script" not in html


def test_exogenous_column_known_in_future_is_used(tmp_path: Path) -> None:
    """Check that --exog reads future values from rows with an empty target and makes the global model more accurate."""
    rng = np.random.default_rng(3)
    rows = []
    for s in range(4):
        t = np.arange(78)
        promo = (rng.random(78) < 0.3).astype(float)
        y = 100 + 10 * np.sin(2 * np.pi * t / 12) + 30 * promo + rng.normal(0, 2, 78)
        y[72:] = np.nan
        rows.append(pd.DataFrame({"s": f"s{s}", "m": pd.date_range("2015-01-01", periods=78, freq="MS"), "y": y, "promo": promo}))
    data = tmp_path / "promo.csv"
    pd.concat(rows).to_csv(data, index=False)
    mase = {}
    for name, extra in (("with", ["--exog", "promo"]), ("without", [])):
        res = invoke(["forecast", str(data), "--time", "m", "--target", "y", "--series", "s", "--horizon", "6",
                      "--out", str(tmp_path / name), "--models", "LightGBM", *extra])
        assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
        bt = pd.read_csv(tmp_path / name / "backtest.csv")
        mase[name] = bt.loc[bt["model"] == "LightGBM", "mase"].mean()
    fc = pd.read_csv(tmp_path / "with" / "forecast.csv")
    assert len(fc) == 24 and fc["forecast"].notna().all()
    assert mase["with"] < 0.7 * mase["without"], mase
