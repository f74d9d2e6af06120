"""Tests of the model bundle: round trip, SHA-256 verification, refusal of untrusted types."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpiml.artifact import load_bundle, sha256_file, verify_bundle
from kpiml.errors import KpimlError
from kpiml.planning import build_plan
from kpiml.spec import Candidate
from kpiml.train_cli import write_outputs
from kpiml.training import train_model


def _table(n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    tenure = rng.integers(1, 72, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    z = -0.05 * tenure + (plan == "basic") * 1.5 + rng.normal(scale=0.6, size=n)
    return pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "tenure": tenure, "plan": plan, "charges": rng.normal(60, 20, n).round(2), "churn": np.where(z > 0, "left", "stayed")})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, np.ndarray]:
    """A bundle of a blend with a LightGBM, an XGBoost and a logistic member, and its predictions."""
    folder = tmp_path_factory.mktemp("bundle")
    _table().to_csv(folder / "data.csv", index=False)
    plan = build_plan(folder / "data.csv", target="churn", positive="left")
    plan.spec.models.candidates = [Candidate(name=n) for n in ("logistic", "lightgbm", "xgboost")]
    result = train_model(plan.spec, plan.frame, budget=10)
    paths = write_outputs(plan.spec, plan.frame, result, folder / "project")
    return paths["bundle"], plan.frame, result.model.predict_matrix(plan.frame)


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "model"))


def test_bundle_round_trips_to_identical_predictions(trained: tuple[Path, pd.DataFrame, np.ndarray]) -> None:
    """Check that a loaded bundle predicts exactly what the trained model predicted."""
    bundle, frame, expected = trained
    loaded = load_bundle(bundle)
    assert np.allclose(loaded.model.predict_matrix(frame), expected, atol=1e-9)
    assert loaded.contract["identifiers"] == ["customer_id"]
    meta = loaded.metadata
    assert {"spec", "libraries", "training_data", "metrics", "operating_point"} <= set(meta)
    assert meta["operating_point"]["threshold"] == 0.5 and len(meta["training_data"]["fingerprint"]) == 64


def test_bundle_uses_safe_formats(trained: tuple[Path, pd.DataFrame, np.ndarray]) -> None:
    """Check that no pickle is written: skops for sklearn objects, native files for boosters."""
    bundle, _, _ = trained
    suffixes = {p.suffix for p in bundle.rglob("*") if p.is_file()}
    # parquet: the OOF and hold-out rows (operating point, report); csv: the leaderboard the report shows
    assert suffixes <= {".json", ".skops", ".txt", ".cbm", ".parquet", ".csv"}
    formats = {p["format"] for m in json.loads((bundle / "metadata.json").read_text())["model"]["members"] for p in m["parts"]}
    assert formats <= {"skops", "lightgbm", "xgboost", "catboost"}


def test_catboost_bundle_round_trips_in_its_own_format(tmp_path: Path) -> None:
    """Check that a CatBoost model is saved as CatBoost's .cbm, verified by hash and predicts the same after loading."""
    _table().to_csv(tmp_path / "data.csv", index=False)
    plan = build_plan(tmp_path / "data.csv", target="churn", positive="left")
    plan.spec.models.candidates = [Candidate(name="catboost")]
    result = train_model(plan.spec, plan.frame, budget=10)
    bundle = write_outputs(plan.spec, plan.frame, result, tmp_path / "project")["bundle"]
    assert [p.suffix for p in bundle.glob("parts/*-model.*")] == [".cbm"] * len(list(bundle.glob("parts/*-model.*")))
    loaded = load_bundle(bundle)
    np.testing.assert_allclose(loaded.model.predict_matrix(plan.frame), result.model.predict_matrix(plan.frame), rtol=0, atol=1e-12)
    _flip_byte(next(bundle.glob("parts/*-model.cbm")))
    with pytest.raises(KpimlError, match="modified or truncated"):
        load_bundle(bundle)


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("pattern", ["metadata.json", "contract.json", "parts/*-pre.skops", "parts/*-model.*", "calibrator.skops"])
def test_a_modified_byte_is_detected(trained: tuple[Path, pd.DataFrame, np.ndarray], tmp_path: Path, pattern: str) -> None:
    """Check that flipping one bit in any bundle file makes loading refuse the bundle."""
    bundle = _copy(trained[0], tmp_path)
    target = next(bundle.glob(pattern), None)
    if target is None:
        pytest.skip(f"this bundle has no {pattern}")
    _flip_byte(target)
    with pytest.raises(KpimlError, match="modified or truncated"):
        load_bundle(bundle)


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        ("truncate", KpimlError, "modified or truncated"),
        ("delete", KpimlError, "is missing"),
        ("extra", KpimlError, "does not list"),
        ("manifest", KpimlError, "not a kpiml model bundle"),
        ("garbled_manifest", KpimlError, "manifest .* is damaged"),
    ],
)
def test_damaged_bundles_are_refused_with_a_message(trained: tuple[Path, pd.DataFrame, np.ndarray], tmp_path: Path, damage: str, error: type[Exception], message: str) -> None:
    """Check that truncated, missing, extra files and a lost manifest are all refused."""
    bundle = _copy(trained[0], tmp_path)
    victim = next(bundle.glob("parts/*-pre.skops"))
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:100])
    elif damage == "delete":
        victim.unlink()
    elif damage == "extra":
        (bundle / "parts" / "evil.skops").write_bytes(b"x")
    elif damage == "manifest":
        (bundle / "manifest.json").unlink()
    else:
        (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(error, match=message):
        verify_bundle(bundle)


def test_untrusted_types_are_refused_even_with_matching_hashes(trained: tuple[Path, pd.DataFrame, np.ndarray], tmp_path: Path) -> None:
    """Check that a re-hashed bundle smuggling a function call is still refused."""
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    bundle = _copy(trained[0], tmp_path)
    victim = next(bundle.glob("parts/*-pre.skops"))
    sio.dump(FunctionTransformer(func=eval), victim)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][victim.relative_to(bundle).as_posix()] = sha256_file(victim)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(KpimlError, match="does not trust"):
        load_bundle(bundle)
