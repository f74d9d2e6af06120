"""The training reference inside a model bundle: written by `kpiml train`, read by `kpiml monitor`.

`reference.json` sits beside the model in the bundle and is listed in its SHA-256 manifest
like every other file, so a changed reference refuses the bundle as a changed model would.
Feature references cover the contract's feature columns, with the kinds the contract
declares (the same kinds the model's pipeline used); the score reference is built from the
calibrated out-of-fold probabilities of the training rows, i.e. scores of rows the model
had not seen, which is what new rows are (in-sample scores of a refitted booster are more
extreme than anything it will produce on new data, and would raise false prediction drift).

Bundles written before monitoring existed have no reference: `kpiml monitor` then asks for
the training data (`--reference-data`) and rebuilds one from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError
from kpiml.monitoring.reference import Reference, build_reference

REFERENCE_FILE = "reference.json"
#: Hold-out metrics kept for live quality (the first is the AUC a live AUC is compared with).
KEPT_METRICS = ("roc_auc", "average_precision", "brier", "log_loss")


def contract_columns(contract: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Feature column -> {"type": kind} from a bundle's contract.json."""
    return {str(f["name"]): {"type": str(f.get("kind", "categorical"))} for f in contract.get("features", [])}


def training_reference(frame: pd.DataFrame, contract: Mapping[str, Any], scores: np.ndarray | None, metrics: Mapping[str, Any] | None = None) -> Reference:
    """The reference of the training rows: features by the contract's kinds, the given scores,
    and the hold-out metrics live quality compares with."""
    ref = build_reference(frame, scores, contract_columns(contract))
    kept = {k: float(v) for k, v in (metrics or {}).items() if k in KEPT_METRICS and isinstance(v, int | float) and np.isfinite(v)}
    return ref.model_copy(update={"metrics": kept})


def reference_file(frame: pd.DataFrame, contract: Mapping[str, Any], scores: np.ndarray | None, metrics: Mapping[str, Any] | None = None) -> dict[str, bytes]:
    """{REFERENCE_FILE: JSON bytes}, ready for `save_bundle(extra_files=...)`."""
    ref = training_reference(frame, contract, scores, metrics)
    return {REFERENCE_FILE: ref.model_dump_json().encode("utf-8")}


def read_reference(bundle_path: Path) -> Reference | None:
    """The bundle's reference, or None for a bundle written before monitoring existed."""
    file = Path(bundle_path) / REFERENCE_FILE
    if not file.is_file():
        return None
    return Reference.model_validate_json(file.read_text(encoding="utf-8"))


def missing_reference_error(bundle_path: Path) -> KpimlError:
    """The message for an older bundle without a reference and no --reference-data."""
    return KpimlError(
        f"Model bundle {bundle_path} has no monitoring reference ({REFERENCE_FILE}); it was trained by an older kpiml",
        expected="a bundle written by `kpiml train` of this version, or the training data to rebuild the reference from",
        got="no reference.json in the bundle",
        fix="pass the data the model was trained on with --reference-data FILE, or retrain with `kpiml train` to store one",
    )
