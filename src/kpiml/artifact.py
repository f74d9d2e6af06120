"""Save, load and verify a model bundle: a folder that holds everything needed to predict.

Layout (all paths relative to the bundle folder):

    manifest.json       format, version and the SHA-256 of every other file
    metadata.json       spec, library versions, training-data fingerprint, metrics,
                        operating point, and the model's structure (members, parts, files)
    contract.json       input contract: columns, kinds, categories, ranges, identifiers
    parts/*.skops       preprocessing pipelines and sklearn estimators (skops, no pickle)
    parts/*.txt|.json|.cbm   LightGBM / XGBoost / CatBoost boosters in their native formats
    calibrator.skops    probability calibration
    operating_point.json  the KPI operating point (kpiml.kpi.OperatingPoint) and why it was chosen
    oof.parquet         labels, calibrated probabilities (and values) of the out-of-fold rows the
                        point was chosen on, so `kpiml roi` can re-choose it without retraining

Loading checks every hash first and refuses a bundle with a changed, missing or extra file,
then loads skops files trusting only classes from sklearn, numpy, scipy and kpiml itself,
so a bundle cannot smuggle in a function call.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kpiml.atomic import atomic_dir
from kpiml.errors import KpimlError

FORMAT = "kpiml-bundle"
VERSION = 1
MANIFEST = "manifest.json"
TRUSTED_MODULES = ("sklearn.", "numpy", "scipy.", "kpiml.features.", "kpiml.training.")


@dataclass
class Bundle:
    model: Any  # kpiml.training.KpimlModel
    contract: dict[str, Any]
    metadata: dict[str, Any]
    path: Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose formats the bundle depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("kpiml", "scikit-learn", "lightgbm", "xgboost-cpu", "xgboost", "catboost", "skops", "numpy", "pandas", "optuna"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str), encoding="utf-8")


def _save_parts(model: Any, folder: Path) -> list[dict[str, Any]]:
    import skops.io as sio

    (folder / "parts").mkdir()
    members = []
    for m_index, member in enumerate(model.members):
        parts = []
        for p_index, part in enumerate(member.parts):
            stem = f"parts/{m_index}-{member.name}-{p_index}"
            sio.dump(part.preprocessor, folder / f"{stem}-pre.skops")
            est_file = f"{stem}-model{part.estimator.suffix}"
            part.estimator.save(folder / est_file)
            parts.append({"preprocessor": f"{stem}-pre.skops", "estimator": est_file, "format": part.estimator.format})
        members.append({"name": member.name, "weight": member.weight, "params": member.params, "parts": parts})
    return members


def save_bundle(model: Any, contract: dict[str, Any], metadata: dict[str, Any], path: Path, extra_files: dict[str, bytes] | None = None) -> Path:
    """Write the bundle atomically: a crash half-way leaves the previous bundle (or none).

    `extra_files` (name -> bytes, e.g. the operating point) are written beside the model and
    listed in the manifest like every other file, so they are verified on loading too.
    """
    import skops.io as sio

    path = Path(path)
    with atomic_dir(path) as tmp:
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
        structure = {
            "problem": model.problem,
            "classes": model.classes,
            "positive": model.positive,
            "threshold": model.threshold,
            "feature_columns": model.feature_columns,
            "members": _save_parts(model, tmp),
            "calibrator": None,
        }
        if model.calibrator is not None:
            sio.dump(model.calibrator, tmp / "calibrator.skops")
            structure["calibrator"] = "calibrator.skops"
        _write_json(tmp / "metadata.json", {**metadata, "model": structure})
        _write_json(tmp / "contract.json", contract)
        files = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        _write_json(tmp / MANIFEST, {"format": FORMAT, "version": VERSION, "files": files})
    return path


def verify_bundle(path: Path) -> dict[str, str]:
    """Check the manifest against the files; raise KpimlError naming the first problem."""
    path = Path(path)
    fix = "retrain with `kpiml train`, or restore the bundle from its MLflow run or a backup"
    if not (path / MANIFEST).is_file():
        raise KpimlError(f"{path} is not a kpiml model bundle (no {MANIFEST})", expected="the model/ folder written by `kpiml train`", fix="point at DIR/model from a training run")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        files = dict(manifest["files"])
        fmt, version = manifest["format"], manifest["version"]
    except (ValueError, KeyError, TypeError) as exc:
        raise KpimlError(f"The manifest of bundle {path} is damaged", got=type(exc).__name__, fix=fix) from None
    if fmt != FORMAT or version != VERSION:
        raise KpimlError(f"Bundle {path} has format {fmt} v{version}", expected=f"{FORMAT} v{VERSION}", fix="retrain with this version of kpiml")
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()} - {MANIFEST}
    for name in sorted(set(files) - present):
        raise KpimlError(f"Bundle {path} is missing {name}", fix=fix)
    for name in sorted(present - set(files)):
        raise KpimlError(f"Bundle {path} contains {name}, which its manifest does not list", fix=f"remove {name} or {fix}")
    for name, expected in files.items():
        if sha256_file(path / name) != expected:
            raise KpimlError(f"Bundle file {name} was modified or truncated after training (SHA-256 mismatch); the model is refused", expected=expected[:16] + "…", got=sha256_file(path / name)[:16] + "…", fix=fix)
    return files


def _trusted(untrusted: list[str], file: str) -> list[str]:
    """Accept only classes from known libraries and kpiml; anything else refuses the bundle."""
    for name in untrusted:
        module, _, attr = name.rpartition(".")
        ok = False
        if name.startswith(TRUSTED_MODULES):
            try:
                ok = isinstance(getattr(importlib.import_module(module), attr), type)
            except (ImportError, AttributeError):
                ok = False
        if not ok:
            raise KpimlError(f"Bundle file {file} asks to load the type {name}, which kpiml does not trust", fix="retrain the model; bundles only contain sklearn, numpy, scipy and kpiml types")
    return untrusted


def _load_skops(path: Path) -> Any:
    import skops.io as sio

    return sio.load(path, trusted=_trusted(sio.get_untrusted_types(file=path), path.name))


def load_bundle(path: Path) -> Bundle:
    """Verify, then rebuild the model; the input contract and metadata come with it."""
    from kpiml.training import KpimlModel, Member, ModelPart
    from kpiml.training._estimators import load_fitted

    path = Path(path)
    verify_bundle(path)
    metadata = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    contract = json.loads((path / "contract.json").read_text(encoding="utf-8"))
    s = metadata["model"]
    members = []
    for m in s["members"]:
        parts = []
        for p in m["parts"]:
            est_path = path / p["estimator"]
            trusted = _trusted(_untrusted(est_path), est_path.name) if p["format"] == "skops" else []
            parts.append(ModelPart(_load_skops(path / p["preprocessor"]), load_fitted(p["format"], est_path, s["problem"], trusted)))
        members.append(Member(m["name"], float(m["weight"]), m.get("params", {}), parts))
    calibrator = _load_skops(path / s["calibrator"]) if s.get("calibrator") else None
    model = KpimlModel(problem=s["problem"], classes=s["classes"], members=members, calibrator=calibrator, threshold=float(s["threshold"]), positive=s.get("positive"), feature_columns=s["feature_columns"])
    return Bundle(model, contract, metadata, path)


def _untrusted(path: Path) -> list[str]:
    import skops.io as sio

    return sio.get_untrusted_types(file=path)


OPERATING_POINT_FILE = "operating_point.json"
OOF_FILE = "oof.parquet"


def read_operating_point(path: Path) -> Any | None:
    """The bundle's KPI operating point (kpiml.kpi.OperatingPoint), or None for an older bundle."""
    from kpiml.kpi import OperatingPoint

    file = Path(path) / OPERATING_POINT_FILE
    return OperatingPoint.model_validate_json(file.read_text(encoding="utf-8")) if file.is_file() else None


def read_oof(path: Path) -> Any | None:
    """The out-of-fold rows the point was chosen on (columns y, p and maybe value), or None."""
    import pandas as pd

    file = Path(path) / OOF_FILE
    return pd.read_parquet(file) if file.is_file() else None
