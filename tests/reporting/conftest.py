"""Small trained bundles for the report tests: trained once per session through the real CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kpiml.cli import main

CHURN = ["--template", "churn", "--clv", "200", "--incentive", "10", "--contact", "1", "--acceptance-alpha", "6", "--acceptance-beta", "14"]


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def churn_frame(n: int, seed: int) -> pd.DataFrame:
    """Customers whose churn falls with tenure and differs by contract (a categorical segment)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    contract = rng.choice(["monthly", "one_year", "two_year"], n, p=[0.5, 0.3, 0.2])
    z = -0.05 * tenure + np.where(contract == "monthly", 1.0, 0.0) + rng.normal(scale=0.8, size=n)
    return pd.DataFrame({"customer_id": range(n), "tenure": tenure, "contract": contract, "charges": rng.normal(60, 20, n).round(2),
                         "churn": np.where(z > np.quantile(z, 0.7), "Yes", "No")})


def train(folder: Path, frame: pd.DataFrame, target: str, flags: list[str], model: str, positive: str | None = None) -> Path:
    """Plan and train one small model (a single candidate, a few seconds) and return its project folder."""
    frame.to_csv(folder / "d.csv", index=False)
    extra = ["--positive", positive] if positive else []
    assert run_cli(["plan", str(folder / "d.csv"), "--target", target, *extra, "--out", str(folder / "p"), *flags]) == 0
    raw = yaml.safe_load((folder / "p" / "kpiml.yaml").read_text())
    raw["models"]["candidates"] = [{"name": model, "enabled": True, "max_rows": None, "reason": ""}]
    (folder / "p" / "kpiml.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert run_cli(["train", "--spec", str(folder / "p" / "kpiml.yaml"), "--budget", "4", "--tracking-uri", "none"]) == 0
    return folder / "p"


@pytest.fixture(scope="session")
def churn_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A churn model with economics (LightGBM, so importance is TreeSHAP)."""
    return train(tmp_path_factory.mktemp("report-churn"), churn_frame(600, 0), "churn", CHURN, "lightgbm", "Yes")
