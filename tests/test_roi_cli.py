"""`kpiml roi`: new economics on a trained bundle without retraining, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kpiml.cli import main
from kpiml.kpi import campaign
from kpiml.kpi.headline import bundle_kpi, headline, headline_text
from kpiml.spec import KpiBlock

CHURN = ["--template", "churn", "--clv", "200", "--incentive", "10", "--contact", "1", "--acceptance-alpha", "6", "--acceptance-beta", "14"]


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def _train(folder: Path, flags: list[str]) -> Path:
    rng = np.random.default_rng(0)
    n = 500
    tenure = rng.integers(1, 72, n)
    z = -0.05 * tenure + rng.normal(scale=0.8, size=n)
    frame = pd.DataFrame({"customer_id": range(n), "tenure": tenure, "charges": rng.normal(60, 20, n).round(2),
                          "churn": np.where(z > np.quantile(z, 0.7), "Yes", "No")})
    frame.to_csv(folder / "d.csv", index=False)
    assert run_cli(["plan", str(folder / "d.csv"), "--target", "churn", "--positive", "Yes", "--out", str(folder / "p"), *flags]) == 0
    raw = yaml.safe_load((folder / "p" / "kpiml.yaml").read_text())
    raw["models"]["candidates"] = [{"name": "logistic", "enabled": True, "max_rows": None, "reason": ""}]
    (folder / "p" / "kpiml.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert run_cli(["train", "--spec", str(folder / "p" / "kpiml.yaml"), "--budget", "4", "--tracking-uri", "none"]) == 0
    return folder / "p" / "model"


@pytest.fixture(scope="module")
def churn_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("roi"), CHURN)


@pytest.fixture(scope="module")
def plain_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("plain"), [])


def test_roi_prints_headline_and_sensitivity(churn_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Check that roi prints the headline of the new economics and a sensitivity row per term and factor."""
    capsys.readouterr()
    assert run_cli(["roi", str(churn_bundle), "--clv", "300", "--capacity", "0.1"]) == 0
    printed = capsys.readouterr().out
    kpi = bundle_kpi(churn_bundle).kpi
    new = kpi.model_copy(update={"economics": kpi.economics.model_copy(update={"clv": 300.0}), "capacity": kpi.capacity.model_copy(update={"share": 0.1})})
    expected = headline(churn_bundle, new)
    assert headline_text(expected).split(":")[0].replace("\n", "") in printed.replace("\n", "")
    for term in ("clv", "incentive", "contact", "acceptance", "capacity_share"):
        assert term in printed
    assert expected.share_acted <= 0.1


def test_roi_json_and_csv_outputs(churn_bundle: Path, tmp_path: Path) -> None:
    """Check that --out writes the headline, the point and the table (JSON) or the table (CSV)."""
    assert run_cli(["roi", str(churn_bundle), "--incentive", "20", "--out", str(tmp_path / "r.json")]) == 0
    payload = json.loads((tmp_path / "r.json").read_text())
    assert {"headline", "operating_point", "sensitivity"} <= set(payload)
    assert payload["operating_point"]["kpi"]["economics"]["incentive"] == 20
    assert payload["headline"]["profit_low"] <= payload["headline"]["profit"] <= payload["headline"]["profit_high"]
    assert run_cli(["roi", str(churn_bundle), "--rows", "10000", "--out", str(tmp_path / "r.csv")]) == 0
    table = pd.read_csv(tmp_path / "r.csv")
    assert {"parameter", "factor", "profit", "roi", "share_acted"} <= set(table.columns) and len(table) >= 20


def test_headline_is_the_campaign_of_the_stored_rows(churn_bundle: Path) -> None:
    """Check that the headline (shared with the report) is the campaign on the bundle's OOF rows, seed fixed."""
    stored = bundle_kpi(churn_bundle)
    result = headline(churn_bundle)
    direct = campaign(stored.oof.y, stored.oof.p, stored.kpi, n_boot=1000, seed=0)
    assert result.profit == direct.profit and result.profit_ci == direct.profit_ci
    assert result.rows == len(stored.oof.y) and isinstance(stored.kpi, KpiBlock)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--acceptance", "1.5"], "--acceptance is not valid"),
        (["--capacity", "2.5"], "must be whole"),
        (["--value-column", "charges"], "carry no values of 'charges'"),
        (["--out", "roi.xlsx"], "output format"),
        (["--incentive", "250"], "incentive is at least the customer lifetime value"),
    ],
)
def test_roi_bad_options_exit_2(churn_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    """Check that wrong what-if options are user errors (exit 2) with the reason."""
    assert run_cli(["roi", str(churn_bundle), *[str(tmp_path / a) if a.endswith(".xlsx") else a for a in args]]) == 2
    assert message in capsys.readouterr().err.replace("\n", "")


def test_roi_needs_economics_and_a_bundle(plain_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Check that a model without economics needs them on the command line, and a non-bundle is refused."""
    assert run_cli(["roi", str(plain_bundle)]) == 2
    assert "trained without economics" in capsys.readouterr().err.replace("\n", "")
    assert run_cli(["roi", str(plain_bundle), "--benefit-tp", "56", "--cost-fp", "11", "--capacity", "0.2"]) == 0
    assert run_cli(["roi", str(tmp_path)]) == 2
    assert "not a kpiml model bundle" in capsys.readouterr().err.replace("\n", "")
