"""From model outputs to what the service answers: score, decision, expected value.

The bundle's decision rule is read by `kpiml.predicting.decision_rule` (the KPI operating point
in operating_point.json for binary models, the cost of acting for regression KPIs, the model's
threshold for older bundles) so that `kpiml predict` and `kpiml serve` agree on what a bundle
means. What differs is the batch: `predict` applies a capacity over a whole file, while the
service scores a stream, and the micro-batcher mixes rows of different clients. So the service
applies the point as a stream rule (`per_batch=False`): a row is acted on when it clears the
capacity bar learnt on the out-of-fold rows, whatever else arrived with it. The same row
therefore always gets the same decision, which also keeps the control group reproducible.
The expected value is null when the bundle has no economics (the default p >= 0.5 rule's
"value" is not money).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from kpiml import predicting


@dataclass(frozen=True)
class DecisionRule(predicting.DecisionRule):
    """`kpiml.predicting.DecisionRule` (problem, operating point, economics, regression cost)
    plus what answering one row at a time needs: the class labels and the model's threshold."""

    classes: list[str] = field(default_factory=list)
    threshold: float = 0.5

    @property
    def acts(self) -> bool:
        """Whether decisions are act (1) / do not act (0), the only kind a control group fits."""
        return self.problem == "binary" or (self.problem == "regression" and self._cost() is not None)

    def _cost(self) -> float | None:
        cost = (self.regression or {}).get("cost")
        return None if cost is None else float(cost)

    def describe(self) -> str:
        if self.problem == "multiclass":
            return "decision = the most probable class"
        if self.problem == "regression":
            cost = self._cost()
            return "score = predicted value; no cost of acting stored, so no decision" if cost is None else f"act (decision 1) when the predicted value exceeds the cost of acting {cost:g}"
        if self.point is None:
            return f"act (decision 1) when score >= {self.threshold:g} (the bundle's decision threshold; no KPI operating point stored)"
        bar = self.point.capacity_threshold if self.point.capacity_threshold is not None else self.point.threshold
        by = "score" if self.point.ranking == "probability" else "expected value"
        return "act on no row (no threshold made acting pay)" if bar is None else f"act (decision 1) when the {by} >= {bar:.6g} (KPI operating point '{self.point.kind}', applied row by row)"

    def point_dict(self) -> dict[str, Any]:
        if self.point is not None:
            return {**json.loads(self.point.model_dump_json()), "economics": self.economics}
        if self.problem == "regression":
            return {"kind": "regression", "economics": self.economics, **(self.regression or {})}
        return {"kind": "threshold", "ranking": "probability", "threshold": self.threshold, "economics": False, "source": "bundle decision threshold"}

    def apply(self, pred: np.ndarray, values: np.ndarray | None) -> tuple[np.ndarray, list[Any], np.ndarray | None]:
        """Scores, decisions and expected values (None without economics) of a prediction matrix."""
        if self.problem == "multiclass":
            labels = np.asarray(self.classes, dtype=object)[pred.argmax(axis=1)]
            return pred.max(axis=1).astype("float64"), [str(v) for v in labels], None
        if self.problem == "regression":
            return self._regression_stream(np.asarray(pred, dtype="float64").reshape(-1))
        p = np.asarray(pred[:, 1], dtype="float64")
        if self.point is None:
            return p, (p >= self.threshold).astype("int64").tolist(), None
        from kpiml.kpi import apply_operating_point

        decision, ev = apply_operating_point(self.point, p, values, per_batch=False)
        return p, np.asarray(decision, dtype="int64").tolist(), np.asarray(ev, dtype="float64") if self.economics else None

    def _regression_stream(self, score: np.ndarray) -> tuple[np.ndarray, list[Any], np.ndarray | None]:
        cost = self._cost()
        if cost is None:
            return score, [None] * len(score), None
        from kpiml.kpi import regression_decisions

        decision, ev = regression_decisions(score, cost)
        return score, np.asarray(decision, dtype="int64").tolist(), np.asarray(ev, dtype="float64") if self.economics else None


def rule_for(bundle: Any) -> DecisionRule:
    """The decision rule of a loaded bundle (kpiml.artifact.Bundle), as `kpiml predict` reads it."""
    stored = predicting.decision_rule(bundle)
    model = bundle.model
    return DecisionRule(**{f.name: getattr(stored, f.name) for f in fields(stored)}, classes=list(model.classes), threshold=float(model.threshold))


def reasons_for(bundle: Any, frame: Any, top: int, prepared: Any = None) -> list[list[dict[str, Any]]]:
    """Top reasons per row from the explanations module once it exists, else none.

    Adapter: expects `kpiml.evaluation.explanations.top_reasons(model, frame, k)` returning, per
    row, a list of {feature, value, effect[, text]}; until that lands every row has no reasons.
    `prepared` (explanations.Prepared of the bundle's model) keeps the pipelines' column maps.
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
    out = explain(bundle.model, frame, top) if prepared is None else explain(bundle.model, frame, top, prepared)
    return [[{"feature": str(r["feature"]), "value": r.get("value"), "effect": float(r["effect"]), "text": r.get("text")} for r in row] for row in out]
