"""`kpiml train` -> `predict --holdout` -> `monitor` -> `retrain` through the real CLI on wa_churn.

The acceptance cases of issue 7 with a short budget (logistic regression only, so each
training takes seconds): an i.i.d. hold-out gives ok (exit 0); a numeric feature shifted by
half a standard deviation or a category's share moved by 20 points gives retrain (exit 1)
naming that column alone; retrain promotes a challenger trained on more data and keeps the
champion against a challenger trained on shuffled labels.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kpiml.cli import main
from kpiml.monitoring import MonitorResult

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "telco_churn.csv"
CHURN = ["--template", "churn", "--clv", "200", "--incentive", "10", "--contact", "1"]
ID = "customer_id"


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def train(data: Path, folder: Path, budget: int = 4) -> Path:
    """Plan and train a logistic model with the churn economics; returns the bundle folder."""
    assert run_cli(["plan", str(data), "--target", "churn", "--positive", "Yes", "--out", str(folder), *CHURN]) == 0
    raw = yaml.safe_load((folder / "kpiml.yaml").read_text())
    raw["models"]["candidates"] = [{"name": "logistic", "enabled": True, "max_rows": None, "reason": ""}]
    (folder / "kpiml.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert run_cli(["train", "--spec", str(folder / "kpiml.yaml"), "--budget", str(budget), "--tracking-uri", "none"]) == 0
    return folder / "model"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A model trained on 70 % of wa_churn (stratified, seed 0) and the other 30 % as new data."""
    from sklearn.model_selection import train_test_split

    folder = tmp_path_factory.mktemp("monitor")
    d = pd.read_csv(EXAMPLE)
    tr, te = train_test_split(d, test_size=0.3, stratify=d["churn"], random_state=0)
    paths = {"train": folder / "train.csv", "new": folder / "new.csv", "outcomes": folder / "outcomes.csv"}
    tr.to_csv(paths["train"], index=False)
    te.drop(columns="churn").to_csv(paths["new"], index=False)
    te[[ID, "churn"]].to_csv(paths["outcomes"], index=False)
    paths["model"] = train(paths["train"], folder / "p")
    paths["folder"] = folder
    return paths


def monitor(project: dict[str, Path], data: Path, out: Path, *extra: str) -> tuple[int, MonitorResult | None]:
    code = run_cli(["monitor", str(project["model"]), str(data), "--out", str(out), *extra])
    js = out / "monitor.json"
    return code, MonitorResult.model_validate_json(js.read_text()) if js.is_file() else None


def test_train_stores_the_reference_in_the_bundle(project: dict[str, Path]) -> None:
    """Check that the bundle holds reference.json (in its manifest) covering every contract feature,
    the score distribution and the hold-out AUC."""
    from kpiml.monitoring.bundle import REFERENCE_FILE, read_reference

    bundle = project["model"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    contract = json.loads((bundle / "contract.json").read_text())
    ref = read_reference(bundle)
    assert REFERENCE_FILE in manifest["files"] and ref is not None
    assert set(ref.columns) == {f["name"] for f in contract["features"]}
    assert ref.score is not None and ref.score.n > 3000 and 0.6 < ref.metrics["roc_auc"] < 1


def test_iid_holdout_is_ok(project: dict[str, Path], tmp_path: Path) -> None:
    """Check that the i.i.d. 30 % hold-out with its outcomes gives verdict ok, exit code 0 and both files."""
    code, result = monitor(project, project["new"], tmp_path, "--outcomes", str(project["outcomes"]))
    assert result is not None and code == 0 and result.verdict.level == "ok", result and [r.message for r in result.verdict.reasons]
    assert (tmp_path / "monitor.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert result.live is not None and result.live.rows == len(pd.read_csv(project["outcomes"]))


def _shift(frame: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(monthly_charges=frame["monthly_charges"] + 0.5 * train["monthly_charges"].std())


def _move(frame: pd.DataFrame, _: pd.DataFrame) -> pd.DataFrame:
    others = np.flatnonzero((frame["contract"] != "Month-to-month").to_numpy())
    picked = np.random.default_rng(0).choice(others, round(0.2 * len(frame)), replace=False)
    out = frame.copy()
    out.iloc[picked, out.columns.get_loc("contract")] = "Month-to-month"
    return out


@pytest.mark.parametrize(("column", "change"), [("monthly_charges", _shift), ("contract", _move)])
def test_drift_gives_retrain_naming_that_column(project: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, change) -> None:  # type: ignore[no-untyped-def]
    """Check that +0.5 sd on monthly_charges, or +20 points of Month-to-month contracts, exits 1 with
    verdict retrain naming only that column, in monitor.json and on the terminal."""
    new = change(pd.read_csv(project["new"]), pd.read_csv(project["train"]))
    new.to_csv(tmp_path / "new.csv", index=False)
    code, result = monitor(project, tmp_path / "new.csv", tmp_path / "out")
    assert code == 1 and result is not None and result.verdict.level == "retrain"
    assert result.verdict.columns("retrain") == [column] and result.verdict.columns("watch") == [column]
    assert f"'{column}' drifted" in capsys.readouterr().out


def test_predict_holdout_then_monitor_measures_impact(project: dict[str, Path], tmp_path: Path) -> None:
    """Check that predict --holdout marks control rows among would-act rows by serve's hash rule,
    with decision 0, and that monitor --log --outcomes compares treated with control rows."""
    from kpiml.monitoring.control import in_control

    scores = tmp_path / "scores.csv"
    assert run_cli(["predict", str(project["model"]), str(project["new"]), "--out", str(scores), "--holdout", "0.2"]) == 0
    s = pd.read_csv(scores)
    control = s["control"].to_numpy() == 1
    would_act = (s["decision"].to_numpy() == 1) | control
    assert control.any() and not (control & (s["decision"].to_numpy() == 1)).any()
    np.testing.assert_array_equal(control, in_control(s[ID], 0.2) & would_act)
    code, result = monitor(project, project["new"], tmp_path / "out", "--log", str(scores), "--outcomes", str(project["outcomes"]))
    assert code == 0 and result is not None and result.impact is not None
    assert (result.impact.control_rows, result.impact.treated_rows) == (int(control.sum()), int(would_act.sum() - control.sum()))
    assert result.impact.incremental_value is not None and result.live is not None and result.live.forecast_profit is not None


def _without_reference(bundle: Path, into: Path) -> Path:
    """A copy of the bundle as an older kpiml wrote it: no reference.json, not in the manifest."""
    shutil.copytree(bundle, into)
    (into / "reference.json").unlink()
    manifest = json.loads((into / "manifest.json").read_text())
    del manifest["files"]["reference.json"]
    (into / "manifest.json").write_text(json.dumps(manifest))
    return into


def test_older_bundle_needs_reference_data(project: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Check that a bundle without a reference exits 2 pointing at --reference-data, and that
    with --reference-data it rebuilds one and monitors (the i.i.d. hold-out: no retrain)."""
    old = _without_reference(project["model"], tmp_path / "old")
    assert run_cli(["monitor", str(old), str(project["new"]), "--out", str(tmp_path / "a")]) == 2
    assert "--reference-data" in capsys.readouterr().err
    code = run_cli(["monitor", str(old), str(project["new"]), "--out", str(tmp_path / "b"), "--reference-data", str(project["train"])])
    result = MonitorResult.model_validate_json((tmp_path / "b" / "monitor.json").read_text())
    assert code == 0 and result.verdict.level != "retrain" and any("rebuilt" in n for n in result.verdict.notes)


@pytest.mark.parametrize(("args", "message"), [
    (["{model}", "{folder}/nope.csv"], "nope.csv' does not exist"),
    (["{model}", "{new}", "--outcomes", "{new}"], "no column 'churn'"),
    (["{model}", "{new}", "--outcomes", "{folder}/ids.csv"], "no column 'customer_id'"),
    (["{model}", "{new}", "--log", "{folder}/nolog", "--outcomes", "{outcomes}"], "does not exist"),
    (["{folder}", "{new}"], "not a kpiml model bundle"),
])
def test_user_mistakes_exit_2(project: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    """Check that a missing file, outcomes without the outcome or identifier column, a missing
    log, or a folder that is no bundle exit 2 with a message naming the problem."""
    pd.read_csv(project["outcomes"]).rename(columns={ID: "cid"}).to_csv(project["folder"] / "ids.csv", index=False)
    names = {k: str(v) for k, v in project.items()}
    code = run_cli(["monitor", *(a.format(**names) for a in args), "--out", str(tmp_path)])
    assert code == 2 and message in capsys.readouterr().err


@pytest.fixture(scope="module")
def champion(project: dict[str, Path]) -> Path:
    """A weak champion: the same spec trained on the first 150 training rows."""
    folder = project["folder"] / "small"
    folder.mkdir()
    pd.read_csv(project["train"]).iloc[:150].to_csv(folder / "small.csv", index=False)
    return train(folder / "small.csv", folder / "p")


def test_retrain_promotes_a_challenger_trained_on_more_data(project: dict[str, Path], champion: Path, tmp_path: Path) -> None:
    """Check that a challenger trained on 20x the rows is promoted: history line, champion.json and
    the MLflow alias 'champion' all point at it."""
    from mlflow import MlflowClient

    from kpiml.monitoring.retrain import read_history

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert run_cli(["retrain", str(champion), str(project["train"]), "--out", str(tmp_path), "--budget", "4", "--tracking-uri", uri]) == 0
    [record] = read_history(tmp_path)
    assert record.promoted and record.comparison.difference.low > 0 and record.comparison.metric == "emp_per_customer"
    assert json.loads((tmp_path / "champion.json").read_text())["model"] == record.challenger
    version = MlflowClient(tracking_uri=uri).get_model_version_by_alias(_registered(uri), "champion")
    assert str(version.version) == record.challenger_version and version.tags["retrain.decision"] == "promoted"


def _registered(uri: str) -> str:
    from mlflow import MlflowClient

    [model] = MlflowClient(tracking_uri=uri).search_registered_models()
    return str(model.name)


def test_retrain_keeps_the_champion_against_shuffled_labels(project: dict[str, Path], champion: Path, tmp_path: Path) -> None:
    """Check that a challenger trained on shuffled labels (the recent window left intact) is not
    promoted: the history records the decision and champion.json keeps the champion."""
    from kpiml.monitoring.retrain import read_history

    d = pd.read_csv(project["train"])
    older = len(d) - round(0.2 * len(d))
    d.loc[: older - 1, "churn"] = np.random.default_rng(0).permutation(d.loc[: older - 1, "churn"].to_numpy())
    d.to_csv(tmp_path / "shuffled.csv", index=False)
    assert run_cli(["retrain", str(champion), str(tmp_path / "shuffled.csv"), "--out", str(tmp_path), "--budget", "4", "--tracking-uri", "none"]) == 0
    [record] = read_history(tmp_path)
    assert not record.promoted and record.comparison.difference.estimate < 0 and record.train_rows == older
    assert json.loads((tmp_path / "champion.json").read_text())["model"] == str(champion.resolve())
