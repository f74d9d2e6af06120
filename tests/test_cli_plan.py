"""End-to-end `kpiml plan` through the real CLI entry point: outputs, bad input, warnings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kpiml.cli import main


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def churn_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    charges = rng.uniform(20, 120, n).round(2)
    p = 1 / (1 + np.exp(-(-1 + 0.03 * (charges - 70) - 0.04 * (tenure - 30))))
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "tenure": tenure,
        "monthly_charges": charges,
        "contract": rng.choice(["month", "year", "two_year"], n),
        "churn": np.where(rng.random(n) < p, "Yes", "No"),
    })


def test_plan_writes_three_files_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Check that `kpiml plan` writes plan.md, kpiml.yaml and profile.json and prints where the plan is."""
    data = tmp_path / "customers.csv"
    churn_frame().to_csv(data, index=False)
    out = tmp_path / "proj"
    assert run_cli(["plan", str(data), "--target", "churn", "--positive", "Yes", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"plan.md", "kpiml.yaml", "profile.json"}
    printed = capsys.readouterr().out
    assert "plan.md" in printed and "binary" in printed
    spec = yaml.safe_load((out / "kpiml.yaml").read_text())
    assert spec["target"] == {"column": "churn", "problem": "binary", "positive": "Yes", "classes": ["No", "Yes"], "reason": spec["target"]["reason"]}
    uses = {c["name"]: c["use"] for c in spec["columns"]}
    assert uses["customer_id"] == "identifier" and uses["tenure"] == "feature"
    profile = json.loads((out / "profile.json").read_text())
    assert profile["rows"] == 400


def test_plan_rerenders_from_edited_spec(tmp_path: Path) -> None:
    """Check that editing kpiml.yaml and running `kpiml plan --spec` changes plan.md accordingly."""
    data = tmp_path / "customers.csv"
    churn_frame().to_csv(data, index=False)
    out = tmp_path / "proj"
    assert run_cli(["plan", str(data), "--target", "churn", "--out", str(out)]) == 0
    spec_path = out / "kpiml.yaml"
    raw = yaml.safe_load(spec_path.read_text())
    raw["models"]["search"]["budget_seconds"] = 777
    raw["kpi"]["economics"]["benefit_tp"] = 56.0
    raw["kpi"]["economics"]["cost_fp"] = 11.0
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert run_cli(["plan", "--spec", str(spec_path)]) == 0
    plan = (out / "plan.md").read_text()
    assert "budget 777 s" in plan
    assert "benefit_tp = 56" in plan and "cost_fp = 11" in plan and "`profit_per_row`" in plan


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["split"].update(foldz=3), r"split\.foldz: unknown key"),
        (lambda r: r["split"].update(strategy="shuffled"), r"split\.strategy: Input should be 'stratified', 'random', 'grouped' or 'time'"),
        (lambda r: r["columns"][1].update(impute="magic"), r"columns\.1\.impute: Input should be"),
        (lambda r: r["split"].update(holdout=1.5), r"split\.holdout: Input should be less than 0\.9"),
    ],
)
def test_plan_spec_rejects_unknown_keys_and_bad_values(tmp_path: Path, capsys: pytest.CaptureFixture[str], edit, message: str) -> None:
    """Check that an edited spec with an unknown key or a bad value is refused with the key's path and the allowed values."""
    data = tmp_path / "customers.csv"
    churn_frame().to_csv(data, index=False)
    out = tmp_path / "proj"
    assert run_cli(["plan", str(data), "--target", "churn", "--out", str(out)]) == 0
    raw = yaml.safe_load((out / "kpiml.yaml").read_text())
    edit(raw)
    (out / "kpiml.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    before = (out / "plan.md").read_text()
    capsys.readouterr()
    assert run_cli(["plan", "--spec", str(out / "kpiml.yaml")]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert __import__("re").search(message, err), err
    assert (out / "plan.md").read_text() == before


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


BAD_INPUTS = [
    ("missing_file", None, ["--target", "churn"], r"no such file"),
    ("empty_file", "", ["--target", "churn"], r"empty"),
    ("header_only", "customer_id,tenure,churn\n", ["--target", "churn"], r"header but no rows|no rows"),
    ("target_absent", "customer_id,tenure,Churn_flag\nC1,3,Yes\nC2,4,No\n", ["--target", "churn"], r"'churn' is not in .*did you mean 'Churn_flag'"),
    ("target_all_missing", "customer_id,tenure,churn\nC1,3,\nC2,4,\n", ["--target", "churn"], r"missing on every row"),
    ("target_one_class", "customer_id,tenure,churn\nC1,3,No\nC2,4,No\nC3,5,No\n", ["--target", "churn"], r"single value \('No'\)"),
    ("inconsistent_labels", "id,tenure,churn\n1,3,Yes\n2,4,yes\n3,5, Yes\n4,6,No\n", ["--target", "churn"], r"differ only in case or spaces: ' Yes', 'Yes', 'yes'"),
    ("positive_with_three_values", "id,tenure,churn\n1,3,Yes\n2,4,No\n3,5,Maybe\n", ["--target", "churn", "--positive", "Yes"], r"--positive was given, but target column 'churn' has 3 distinct values"),
    ("positive_not_a_label", "id,tenure,churn\n1,3,Yes\n2,4,No\n3,5,No\n", ["--target", "churn", "--positive", "yes"], r"--positive 'yes' is not a value.*use --positive 'Yes'"),
    ("duplicate_columns", "id,tenure,tenure,churn\n1,3,3,Yes\n2,4,4,No\n", ["--target", "churn"], r"[Dd]uplicate column.*tenure"),
]


@pytest.mark.parametrize(("case", "content", "flags", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_plan_bad_input_is_a_clear_message_exit_2_and_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, content: str | None, flags: list[str], message: str) -> None:
    """Check that each bad input gets a message naming the problem and the fix, exit code 2, and no partial output."""
    data = tmp_path / f"{case}.csv"
    if content is not None:
        data.write_text(content, encoding="utf-8")
    out = tmp_path / "proj"
    assert run_cli(["plan", str(data), *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert __import__("re").search(message, err), err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_plan_repairs_and_counts_data_defects(tmp_path: Path) -> None:
    """Check that missing targets, text numbers, mixed dates, infinities, constant and personal columns are warned about and counted."""
    n = 300
    rng = np.random.default_rng(3)
    df = churn_frame(n)
    df["balance"] = [f"${v:,.2f}" for v in rng.uniform(500, 50_000, n)]
    df["last_visit"] = [f"2024-01-{i % 28 + 1:02d}" if i % 2 else f"{i % 28 + 1:02d}/02/2024" for i in range(n)]
    df["ratio"] = rng.normal(size=n)
    df.loc[:4, "ratio"] = np.inf
    df["country"] = "NL"
    df["email"] = [f"person{i}@mail.example.org" for i in range(n)]
    df["phone"] = [f"+31 6 {rng.integers(1000, 9999)} {rng.integers(1000, 9999)}" for _ in range(n)]
    df.loc[:9, "churn"] = None
    data = tmp_path / "messy.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "proj"
    assert run_cli(["plan", str(data), "--target", "churn", "--positive", "Yes", "--out", str(out)]) == 0
    profile = json.loads((out / "profile.json").read_text())
    warnings = " | ".join(profile["warnings"])
    assert profile["target"]["missing_dropped"] == 10 and "10 row(s) with a missing target" in warnings
    assert profile["cleaning"]["text_numbers"] == ["balance"]
    assert profile["cleaning"]["mixed_date_formats"] == ["last_visit"]
    assert profile["cleaning"]["infinities"] == {"ratio": 5}
    roles = {c["name"]: (c["role"], c["personal_kind"]) for c in profile["column_profiles"]}
    assert roles["country"][0] == "constant" and roles["email"] == ("personal", "email") and roles["phone"] == ("personal", "phone")
    uses = {c["name"]: c["use"] for c in yaml.safe_load((out / "kpiml.yaml").read_text())["columns"]}
    assert uses["email"] == uses["phone"] == uses["country"] == "exclude"
    assert uses["balance"] == "feature"


def test_help_lists_plan() -> None:
    """Check that `kpiml --help` answers and lists the plan command."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "kpiml.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "plan" in res.stdout
