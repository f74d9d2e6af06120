"""The rows a report is computed on: the stored hold-out, or new labelled data scored now.

At train time the hold-out rows (feature columns, label, KPI values) and the predictions of
the fold models (the honest ones: those rows were never trained on) are stored in the bundle
as `holdout.parquet`, with the leaderboard as `leaderboard.csv`, so `kpiml report MODEL`
needs no data. With `--data` the bundle's model scores the new rows instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError

if TYPE_CHECKING:
    from kpiml.spec import Spec
    from kpiml.training import TrainResult

HOLDOUT_FILE = "holdout.parquet"
LEADERBOARD_FILE = "leaderboard.csv"
MAX_ROWS = 50_000  # hold-out rows kept in the bundle: enough for every curve, bounded size
_Y, _VALUE, _PRED = "_kpiml_y", "_kpiml_value", "_kpiml_pred_"


@dataclass
class Evidence:
    """Labelled rows with the model's predictions: what every figure of the report is drawn from."""

    frame: pd.DataFrame  # feature columns (raw, as the model takes them)
    y: np.ndarray  # 0/1, class codes, or values
    pred: np.ndarray  # probability matrix (classifiers) or values (regression)
    values: np.ndarray | None  # the KPI's per-row value column, when the economics use one
    source: str  # words for the page: "the hold-out of 1,409 rows" or the data file
    notes: list[str] = field(default_factory=list)  # what the input-contract check accepted with a remark

    @property
    def score(self) -> np.ndarray:
        """Positive-class probability (binary), else the prediction itself."""
        return self.pred[:, 1] if self.pred.ndim == 2 and self.pred.shape[1] == 2 else self.pred


def bundle_files(frame: pd.DataFrame, spec: Spec, result: TrainResult) -> dict[str, bytes]:
    """holdout.parquet and leaderboard.csv for the bundle (nothing when there is no hold-out)."""
    files = {LEADERBOARD_FILE: result.leaderboard.to_csv(index=False).encode("utf-8")}
    if result.holdout is None or not len(result.holdout[0]):
        return files
    from kpiml.training import encode_target
    from kpiml.training._kpi import economics_given, kpi_values

    rows, pred = result.holdout
    if len(rows) > MAX_ROWS:
        keep = np.sort(np.random.default_rng(spec.split.seed).choice(len(rows), MAX_ROWS, replace=False))
        rows, pred = rows[keep], pred[keep]
    part = frame.reset_index(drop=True).iloc[rows]
    y, _ = encode_target(part, spec)
    out = part[[c.name for c in spec.feature_columns() if c.name in part.columns]].reset_index(drop=True).copy()
    out[_Y] = y
    values = kpi_values(spec, part) if spec.target.problem == "binary" and economics_given(spec) else None
    if values is not None:
        out[_VALUE] = values
    for j, column in enumerate(np.asarray(pred, dtype="float64").reshape(len(out), -1).T):
        out[f"{_PRED}{j}"] = column
    buffer = io.BytesIO()
    out.to_parquet(buffer, index=False)
    files[HOLDOUT_FILE] = buffer.getvalue()
    return files


def stored_evidence(path: Path, problem: str) -> Evidence | None:
    """The hold-out stored in a bundle, or None for a bundle without one."""
    file = Path(path) / HOLDOUT_FILE
    if not file.is_file():
        return None
    data = pd.read_parquet(file)
    pred_cols = [c for c in data.columns if c.startswith(_PRED)]
    pred = data[pred_cols].to_numpy(dtype="float64")
    pred = pred[:, 0] if problem == "regression" else pred
    values = data[_VALUE].to_numpy(dtype="float64") if _VALUE in data.columns else None
    frame = data.drop(columns=[*pred_cols, _Y, *([_VALUE] if values is not None else [])])
    return Evidence(frame, data[_Y].to_numpy(), pred, values, f"the hold-out ({len(data):,} rows never used for training or model choice)")


def new_evidence(bundle: Any, spec: Spec, data: str, table: str | None = None, query: str | None = None) -> Evidence:
    """New labelled rows scored by the bundle's model, checked against its input contract."""
    from kpiml.data.clean import clean_frame
    from kpiml.data.readers import read_table
    from kpiml.predicting import check_frame
    from kpiml.training._kpi import economics_given, kpi_values

    frame = clean_frame(read_table(data, table=table, query=query))[0]
    if spec.target.column not in frame.columns:
        raise KpimlError(f"The data {data} has no column '{spec.target.column}', the label the report is computed against",
                         expected=f"labelled rows with '{spec.target.column}'", fix="pass rows whose outcome is known, or drop --data to use the stored hold-out")
    if not len(frame):
        raise KpimlError(f"The data {data} has no rows", fix="pass a table with labelled rows")
    notes = check_frame(frame, bundle.contract).lines()
    y = _labels(frame, spec, bundle.model.classes)
    values = kpi_values(spec, frame) if spec.target.problem == "binary" and economics_given(spec) else None
    pred = bundle.model.predict_matrix(frame)
    features = frame[[c for c in bundle.model.feature_columns if c in frame.columns]].reset_index(drop=True)
    return Evidence(features, y, pred, values, f"{data} ({len(frame):,} labelled rows scored by the model)", notes)


def _labels(frame: pd.DataFrame, spec: Spec, classes: list[str]) -> np.ndarray:
    """The label encoded as in training; multiclass codes follow the model's classes, not the new data's."""
    from kpiml.features import coerce_column
    from kpiml.training import encode_target

    if spec.target.problem != "multiclass":
        return encode_target(frame, spec)[0]
    labels = pd.Series(coerce_column(frame[spec.target.column], "categorical"))
    codes = pd.Categorical(labels, categories=list(classes)).codes
    unknown = sorted(set(labels[codes < 0].dropna().astype(str)))
    if unknown or labels.isna().any():
        raise KpimlError(f"Column '{spec.target.column}' holds labels the model never saw or missing values",
                         expected=", ".join(map(str, classes)), got=", ".join(unknown[:10]) or "missing values",
                         fix="keep only rows whose label is one of the model's classes")
    return codes.astype(np.int64)


def read_leaderboard(path: Path) -> pd.DataFrame | None:
    """The leaderboard stored in the bundle, or the one beside it (older bundles), or None."""
    for file in (Path(path) / LEADERBOARD_FILE, Path(path).parent / LEADERBOARD_FILE):
        if file.is_file():
            return pd.read_csv(file)
    return None
