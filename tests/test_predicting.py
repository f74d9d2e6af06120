"""Tests of batch scoring: contract checks on every kind of violation, chunking, output formats."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpiml.errors import KpimlError
from kpiml.planning import build_plan
from kpiml.predicting import build_contract, check_frame, predict_file
from kpiml.spec import Candidate
from kpiml.train_cli import write_outputs
from kpiml.training import train_model


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    z = -0.05 * tenure + (plan == "basic") * 1.5 + rng.normal(scale=0.6, size=n)
    return pd.DataFrame({
        "customer_id": [f"C{seed}-{i}" for i in range(n)],
        "tenure": tenure,
        "plan": plan,
        "signup": (pd.to_datetime("2022-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")).strftime("%Y-%m-%d"),
        "churn": np.where(z > 0, "left", "stayed"),
    })


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("predict")
    _table(500).to_csv(folder / "train.csv", index=False)
    plan = build_plan(folder / "train.csv", target="churn", positive="left")
    plan.spec.models.candidates = [Candidate(name="logistic"), Candidate(name="lightgbm")]
    result = train_model(plan.spec, plan.frame, budget=8)
    return write_outputs(plan.spec, plan.frame, result, folder / "project")["bundle"]


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_writes_identifiers_score_and_decision(bundle: Path, tmp_path: Path, suffix: str) -> None:
    """Check that the output keeps identifiers and adds score, decision and three reasons, for CSV and Parquet."""
    data = _write(_table(120, seed=1).drop(columns="churn"), tmp_path / "new.csv")
    summary = predict_file(bundle, data, tmp_path / f"out{suffix}")
    out = pd.read_csv(summary.out) if suffix == ".csv" else pd.read_parquet(summary.out)
    assert list(out.columns) == ["customer_id", "score", "decision", "expected_value", "reason_1", "reason_2", "reason_3"] and len(out) == 120 == summary.rows
    assert out["reason_1"].str.contains(r" (?:raised|lowered) the probability of ").all()
    assert out["score"].between(0, 1).all() and set(out["decision"]) <= {0, 1}
    assert (out["decision"] == (out["score"] >= 0.5).astype(int)).all()


def test_no_reasons_flag_leaves_the_scores_alone(bundle: Path, tmp_path: Path) -> None:
    """Check that `kpiml predict --no-reasons` drops the reason columns and nothing else."""
    from kpiml.cli import main

    data = _write(_table(60, seed=6).drop(columns="churn"), tmp_path / "new.csv")
    with pytest.raises(SystemExit) as done:
        main(["predict", str(bundle), str(data), "--out", str(tmp_path / "plain.csv"), "--no-reasons"])
    assert done.value.code == 0
    plain = pd.read_csv(tmp_path / "plain.csv")
    full = pd.read_csv(predict_file(bundle, data, tmp_path / "full.csv").out)
    pd.testing.assert_frame_equal(plain, full.drop(columns=["reason_1", "reason_2", "reason_3"]))


def test_chunked_scoring_matches_a_single_chunk(bundle: Path, tmp_path: Path) -> None:
    """Check that streaming in small chunks gives the same rows and scores as one chunk."""
    data = _write(_table(230, seed=2), tmp_path / "new.csv")
    whole = pd.read_csv(predict_file(bundle, data, tmp_path / "a.csv").out)
    chunked = pd.read_csv(predict_file(bundle, data, tmp_path / "b.csv", chunk_rows=40).out)
    pd.testing.assert_frame_equal(whole, chunked)


def test_extra_columns_are_ignored_with_a_note(bundle: Path, tmp_path: Path) -> None:
    """Check that unknown columns do not stop scoring and are named in a note."""
    data = _write(_table(50, seed=3).assign(shoe_size=42), tmp_path / "new.csv")
    summary = predict_file(bundle, data, tmp_path / "out.csv")
    assert any("shoe_size" in n and "Ignored" in n for n in summary.notes)


def test_unseen_categories_are_scored_with_a_note(bundle: Path, tmp_path: Path) -> None:
    """Check that a category unseen in training is scored and reported with its row count."""
    frame = _table(50, seed=4)
    frame.loc[:9, "plan"] = "platinum"
    summary = predict_file(bundle, _write(frame, tmp_path / "new.csv"), tmp_path / "out.csv")
    assert any("'plan': 10 row(s) with categories unseen" in n for n in summary.notes)
    assert pd.read_csv(summary.out)["score"].notna().all()


def test_missing_identifier_is_only_a_note(bundle: Path, tmp_path: Path) -> None:
    """Check that data without the identifier column still scores, with a note."""
    summary = predict_file(bundle, _write(_table(30, seed=5).drop(columns="customer_id"), tmp_path / "new.csv"), tmp_path / "out.csv")
    assert list(pd.read_csv(summary.out).columns) == ["score", "decision", "expected_value", "reason_1", "reason_2", "reason_3"]
    assert any("customer_id" in n for n in summary.notes)


def _bad_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    frame["tenure"] = frame["tenure"].astype(object)
    frame.loc[24, "tenure"] = "twelve"
    frame.loc[27, "tenure"] = "n/a?"
    return frame


def _bad_date(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[7, "signup"] = "next tuesday"
    return frame


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda f: f.drop(columns=["tenure", "plan"]), KpimlError, r"lacks 2 column\(s\).*'tenure'.*'plan'"),
        (lambda f: f.rename(columns={"tenure": "Tenure"}), KpimlError, r"did you mean 'Tenure'"),
        (_bad_numeric, KpimlError, r"'tenure' holds values that cannot be read as numbers.* row\(s\) 25 \('twelve'\), 28"),
        (_bad_date, KpimlError, r"'signup' holds values that cannot be read as dates.* row\(s\) 8 "),
    ],
)
def test_contract_violations_are_refused(bundle: Path, tmp_path: Path, damage, error: type[Exception], message: str) -> None:  # type: ignore[no-untyped-def]
    """Check that missing columns and unsafe type changes are refused with names and row numbers."""
    data = _write(damage(_table(60, seed=6)), tmp_path / "bad.csv")
    with pytest.raises(error, match=message):
        predict_file(bundle, data, tmp_path / "out.csv", chunk_rows=10)
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    ("out", "error", "message"),
    [("scores.xlsx", KpimlError, "output format"), ("scores", KpimlError, "output format")],
)
def test_unknown_output_formats_are_refused(bundle: Path, tmp_path: Path, out: str, error: type[Exception], message: str) -> None:
    """Check that an output name without .csv or .parquet is a user error."""
    with pytest.raises(error, match=message):
        predict_file(bundle, _write(_table(5), tmp_path / "x.csv"), tmp_path / out)


def test_tampered_bundle_is_refused_before_scoring(bundle: Path, tmp_path: Path) -> None:
    """Check that predict refuses a bundle whose files changed after training."""
    copy = Path(shutil.copytree(bundle, tmp_path / "model"))
    contract = copy / "contract.json"
    contract.write_text(contract.read_text().replace("basic", "basiC"))
    with pytest.raises(KpimlError, match="modified or truncated"):
        predict_file(copy, _write(_table(5), tmp_path / "x.csv"), tmp_path / "o.csv")


def test_contract_records_kinds_categories_and_ranges(bundle: Path) -> None:
    """Check that the contract lists each feature's kind, categories and range."""
    frame = _table(100)
    plan_contract = __import__("json").loads((bundle / "contract.json").read_text())
    kinds = {f["name"]: f for f in plan_contract["features"]}
    assert kinds["plan"]["categories"] == ["basic", "plus", "pro"]
    assert kinds["tenure"]["kind"] == "numeric" and kinds["tenure"]["min"] >= 1
    assert "churn" not in kinds and plan_contract["target"] == "churn"
    notes = check_frame(frame.assign(tenure=frame["tenure"] + 1000), plan_contract)
    assert "tenure" in notes.out_of_range
    assert build_contract.__doc__
