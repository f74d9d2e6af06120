"""Live model quality once outcomes arrive: discrimination, calibration and realised profit.

Outcomes come later than predictions and from another system, so they are joined on the
identifier; every way that join can go wrong is a user mistake with a message (`join_outcomes`).
AUC carries the Hanley-McNeil standard error so that a drop from the training AUC can be
told from the noise of a few hundred outcomes (`verdict` needs the drop beyond noise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from kpiml.errors import KpimlError, closest_names
from kpiml.spec import Economics

Z95 = 1.959963984540054


class CalibrationBin(BaseModel):
    mean_score: float
    outcome_rate: float
    rows: int


class LiveQuality(BaseModel):
    """Quality of the scores against the outcomes that arrived."""

    rows: int
    positives: int
    auc: float | None = None
    auc_se: float | None = None
    brier: float
    calibration: list[CalibrationBin]
    calibration_error: float = Field(description="Row-weighted mean |score - outcome rate| over deciles.")
    reference_auc: float | None = None
    auc_drop: float | None = None
    drop_beyond_noise: bool = False
    acted_rows: int | None = None
    forecast_profit: float | None = Field(default=None, description="Sum of expected values of acted rows.")
    realised_profit: float | None = Field(default=None, description="Sum of realised payoffs of acted rows.")


def _need_column(frame: pd.DataFrame, column: str, label: str) -> None:
    if column not in frame.columns:
        near = closest_names(column, [str(c) for c in frame.columns])
        raise KpimlError(
            f"The {label} have no column '{column}'",
            expected=f"a column '{column}' in the {label}",
            got=f"columns {', '.join(map(str, list(frame.columns)[:12]))}",
            fix=f"rename the column or pass its name ({'did you mean ' + ', '.join(near) + '?' if near else 'check the spelling'})",
        )


def binary_outcome(values: pd.Series, positive: Any = None) -> np.ndarray:
    """Outcomes as 0/1: equal to `positive` when given, else already 0/1 or booleans."""
    if positive is not None:
        return (values.astype("string") == str(positive)).fillna(False).to_numpy(dtype=np.int8)
    codes = pd.to_numeric(values.astype("string").str.lower().replace({"true": "1", "false": "0"}), errors="coerce")
    if codes.isna().any() or not codes.isin([0, 1]).all():
        raise KpimlError(
            f"Outcome column '{values.name}' is not binary",
            expected="0/1 or true/false, or a positive label",
            got=", ".join(map(str, values.astype("string").dropna().unique()[:5])),
            fix="name the positive label (the spec's target.positive)",
        )
    return codes.to_numpy(dtype=np.int8)


def join_outcomes(predictions: pd.DataFrame, outcomes: pd.DataFrame, id_column: str, outcome_column: str) -> pd.DataFrame:
    """Predictions (or decision-log rows) with their outcome, inner-joined on the identifier."""
    _need_column(predictions, id_column, "predictions")
    _need_column(outcomes, id_column, "outcomes")
    _need_column(outcomes, outcome_column, "outcomes")
    dupes = outcomes[id_column].duplicated()
    if dupes.any():
        raise KpimlError(
            f"The outcomes list some identifiers more than once in '{id_column}'",
            expected="one outcome per identifier", got=f"{int(dupes.sum())} repeated identifier(s)",
            fix="keep one outcome per identifier (e.g. the latest)",
        )
    left = predictions.assign(_key=predictions[id_column].astype("string"))
    right = outcomes[[id_column, outcome_column]].rename(columns={id_column: "_oid"}).assign(_key=outcomes[id_column].astype("string"))
    joined = left.merge(right.drop(columns="_oid"), on="_key", how="inner", suffixes=("", "_outcome")).drop(columns="_key")
    if joined.empty:
        raise KpimlError(
            f"No identifier in the outcomes matches one in the predictions on '{id_column}'",
            expected="outcomes of rows that were scored",
            got=f"e.g. {outcomes[id_column].iloc[0]!r} in the outcomes, {predictions[id_column].iloc[0]!r} in the predictions" if len(outcomes) and len(predictions) else "an empty file",
            fix="pass the outcomes of the scored rows, with identifiers written the same way",
        )
    return joined


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC: cheap and close to DeLong's."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (positives * negatives)
    return float(np.sqrt(max(var, 0.0)))


def calibration_bins(y: np.ndarray, scores: np.ndarray, bins: int = 10, weights: np.ndarray | None = None) -> list[CalibrationBin]:
    """Mean score and outcome rate per score decile (weighted when rows carry weights)."""
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    groups = pd.qcut(pd.Series(scores).rank(method="first"), q=min(bins, max(len(scores), 1)), labels=False).to_numpy()
    frame = pd.DataFrame({"g": groups, "w": w, "ws": w * scores, "wy": w * y}).groupby("g").agg(["sum", "size"])
    return [CalibrationBin(mean_score=float(r[("ws", "sum")] / r[("w", "sum")]), outcome_rate=float(r[("wy", "sum")] / r[("w", "sum")]),
                           rows=int(r[("w", "size")])) for _, r in frame.iterrows()]


def effective_size(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2: the n that weighted rows are worth."""
    return float(weights.sum() ** 2 / max(float(np.square(weights).sum()), 1e-300))


def confusion_values(y: np.ndarray, act: np.ndarray, economics: Economics) -> np.ndarray:
    """Realised payoff of each row under the spec's confusion-matrix value model."""
    y, act = np.asarray(y, dtype=bool), np.asarray(act, dtype=bool)
    return np.select(
        [act & y, act & ~y, ~act & y], [economics.benefit_tp, -economics.cost_fp, -economics.cost_fn], default=economics.benefit_tn
    ).astype(np.float64)


def _profit(act: np.ndarray | None, expected: np.ndarray | None, realised: np.ndarray | None) -> dict[str, Any]:
    if act is None:
        return {}
    a = np.asarray(act, dtype=bool)
    return {
        "acted_rows": int(a.sum()),
        "forecast_profit": None if expected is None else float(np.asarray(expected, dtype=np.float64)[a].sum()),
        "realised_profit": None if realised is None else float(np.asarray(realised, dtype=np.float64)[a].sum()),
    }


def live_quality(
    y: np.ndarray, scores: np.ndarray, *, reference_auc: float | None = None, act: np.ndarray | None = None,
    expected_value: np.ndarray | None = None, realised_value: np.ndarray | None = None, weights: np.ndarray | None = None,
) -> LiveQuality:
    """AUC (with its standard error and drop from training), Brier, decile calibration, and the
    realised against the forecast profit of the rows acted on (same value model on both sides).

    `weights` let a caller evaluate untreated rows only and re-weight the held-out control
    rows to stand for all rows the model acted on (see `run.outcome_sections`)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=np.int8)
    s = np.asarray(scores, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    pos = int(y.sum())
    auc = se = drop = None
    if 0 < pos < len(y):
        auc = float(roc_auc_score(y, s, sample_weight=w))
        se = auc_standard_error(auc, max(round(effective_size(w[y == 1])), 1), max(round(effective_size(w[y == 0])), 1))
    if auc is not None and reference_auc is not None:
        drop = reference_auc - auc
    cal = calibration_bins(y, s, weights=w)
    ece = float(np.sum([abs(b.mean_score - b.outcome_rate) * b.rows for b in cal]) / max(len(y), 1))
    beyond = bool(drop is not None and se is not None and auc + Z95 * se < reference_auc)  # type: ignore[operator]
    return LiveQuality(rows=len(y), positives=pos, auc=auc, auc_se=se, brier=float(brier_score_loss(y, s, sample_weight=w)), calibration=cal,
                       calibration_error=ece, reference_auc=reference_auc, auc_drop=drop, drop_beyond_noise=beyond,
                       **_profit(act, expected_value, realised_value))
