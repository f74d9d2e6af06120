"""The trained model kpiml ships: preprocessors, estimators, blend weights and calibration.

A member is one candidate family with its chosen parameters; it has one part (refitted on
all rows) or several (the cross-validation fold models, averaged) when time ran out for a
refit. Members are blended with the selected weights and the blend is calibrated. Keeping
the pieces explicit, rather than one opaque pickle, is what lets the bundle store each in a
safe format (skops, LightGBM text, XGBoost JSON, CatBoost cbm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kpiml.training._estimators import Fitted


@dataclass
class ModelPart:
    preprocessor: Any
    estimator: Fitted

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict(np.asarray(self.preprocessor.transform(frame), dtype="float64"))


@dataclass
class Member:
    name: str
    weight: float
    params: dict[str, Any]
    parts: list[ModelPart]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        preds = [p.predict(frame) for p in self.parts]
        return np.mean(preds, axis=0)


@dataclass
class KpimlModel:
    """Predicts calibrated class probabilities (or values) from a raw feature frame."""

    problem: str
    classes: list[str]
    members: list[Member]
    calibrator: Any = None
    threshold: float = 0.5
    positive: str | None = None
    feature_columns: list[str] = field(default_factory=list)

    def predict_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        total = sum(m.weight for m in self.members)
        blended = sum(m.weight / total * m.predict(frame) for m in self.members)
        pred = np.asarray(blended, dtype="float64")
        if self.problem != "regression" and self.calibrator is not None:
            pred = self.calibrator.transform(pred)
        return pred

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Positive-class probability (binary), top-class probability (multiclass) or value."""
        return self.scores_from(self.predict_matrix(frame))

    def scores_from(self, pred: np.ndarray) -> np.ndarray:
        if self.problem == "binary":
            return pred[:, 1]
        if self.problem == "multiclass":
            return pred.max(axis=1)
        return pred

    def decisions_from(self, pred: np.ndarray) -> np.ndarray:
        """The operating point's verdict: act (1) or not (0); the class label for multiclass."""
        if self.problem == "binary":
            return (pred[:, 1] >= self.threshold).astype("int64")
        if self.problem == "multiclass":
            return np.asarray(self.classes, dtype=object)[pred.argmax(axis=1)]
        return np.full(len(pred), np.nan)
