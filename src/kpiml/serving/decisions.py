"""From model outputs to what the service answers: score, decision, expected value, control.

The bundle's KPI operating point decides when it has one (`operating_point.json`, or a full
point in metadata.json); otherwise the model's stored decision threshold does, and the expected
value is null because there are no economics to value a decision with. Single rows arrive one
at a time and the micro-batcher mixes rows of different clients, so the capacity is applied as
a stream rule (`per_batch=False`): a row is acted on when it clears the capacity bar learnt on
the out-of-fold rows, whatever else happened to arrive with it. The same row therefore always
gets the same decision, which also keeps the control group reproducible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

OPERATING_POINT_FILE = "operating_point.json"


def load_operating_point(path: Path, metadata: dict[str, Any]) -> Any | None:
    """The bundle's KPI operating point (kpiml.kpi.OperatingPoint), or None when it has none.

    Adapter for the bundle format in flux: `operating_point.json` in the bundle first, then a
    complete point under `metadata["operating_point"]`; the placeholder {threshold, source}
    that older bundles store is not a point.
    """
    from kpiml.kpi import OperatingPoint

    file = Path(path) / OPERATING_POINT_FILE
    if file.is_file():
        return OperatingPoint.model_validate_json(file.read_text(encoding="utf-8"))
    stored = metadata.get("operating_point")
    if isinstance(stored, dict) and "kind" in stored and "kpi" in stored:
        return OperatingPoint.model_validate(stored)
    return None


@dataclass(frozen=True)
class DecisionRule:
    """How a prediction matrix becomes scores, decisions and expected values."""

    problem: str
    classes: list[str]
    threshold: float
    point: Any | None = None  # kpiml.kpi.OperatingPoint

    @property
    def value_column(self) -> str | None:
        return None if self.point is None else self.point.kpi.economics.value_column

    @property
    def acts(self) -> bool:
        """Whether decisions are act (1) / do not act (0), the only kind a control group fits."""
        return self.problem == "binary"

    def describe(self) -> str:
        if self.problem == "multiclass":
            return "decision = the most probable class"
        if self.problem == "regression":
            return "score = predicted value; no decision rule for regression models"
        if self.point is None:
            return f"act (decision 1) when score >= {self.threshold:g} (the bundle's decision threshold; no KPI operating point stored)"
        bar = self.point.capacity_threshold if self.point.capacity_threshold is not None else self.point.threshold
        by = "score" if self.point.ranking == "probability" else "expected value"
        return "act on no row (no threshold made acting pay)" if bar is None else f"act (decision 1) when the {by} >= {bar:.6g} (KPI operating point, {self.point.kind})"

    def point_dict(self) -> dict[str, Any]:
        if self.point is not None:
            return dict(json.loads(self.point.model_dump_json()))
        return {"kind": "threshold", "ranking": "probability", "threshold": self.threshold, "source": "bundle decision threshold"}

    def apply(self, pred: np.ndarray, values: np.ndarray | None) -> tuple[np.ndarray, list[Any], np.ndarray | None]:
        """Scores, decisions and expected values (None without economics) of a prediction matrix."""
        if self.problem == "multiclass":
            labels = np.asarray(self.classes, dtype=object)[pred.argmax(axis=1)]
            return pred.max(axis=1).astype("float64"), [str(v) for v in labels], None
        if self.problem == "regression":
            score = np.asarray(pred, dtype="float64").reshape(-1)
            return score, [None] * len(score), None
        p = np.asarray(pred[:, 1], dtype="float64")
        if self.point is None:
            return p, (p >= self.threshold).astype("int64").tolist(), None
        from kpiml.kpi import apply_operating_point

        decision, ev = apply_operating_point(self.point, p, values, per_batch=False)
        return p, np.asarray(decision, dtype="int64").tolist(), np.asarray(ev, dtype="float64")


def rule_for(bundle: Any) -> DecisionRule:
    """The decision rule of a loaded bundle (kpiml.artifact.Bundle)."""
    model = bundle.model
    point = load_operating_point(bundle.path, bundle.metadata) if model.problem == "binary" else None
    return DecisionRule(problem=model.problem, classes=list(model.classes), threshold=float(model.threshold), point=point)


def reasons_for(bundle: Any, frame: Any, top: int) -> list[list[dict[str, Any]]]:
    """Top reasons per row from the explanations module once it exists, else none.

    Adapter: expects `kpiml.evaluation.explanations.top_reasons(model, frame, k)` returning, per
    row, a list of {feature, value, effect[, text]}; until that lands every row has no reasons.
    """
    empty: list[list[dict[str, Any]]] = [[] for _ in range(len(frame))]
    if top <= 0:
        return empty
    try:
        from kpiml.evaluation import explanations  # type: ignore[attr-defined]
    except ImportError:
        return empty
    explain = getattr(explanations, "top_reasons", None)
    if explain is None:
        return empty
    out = explain(bundle.model, frame, top)
    return [[{"feature": str(r["feature"]), "value": r.get("value"), "effect": float(r["effect"]), "text": r.get("text")} for r in row] for row in out]
