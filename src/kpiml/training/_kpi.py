"""The KPI value model inside training: the selection scorer, the operating point, hold-out figures.

Honesty is the thread: every selection (trials, blend) scores out-of-fold predictions of the
training part; the operating point is chosen on the calibrated out-of-fold predictions of
those same rows only; the hold-out is touched once, to judge both model and point, with
bootstrap intervals. Without economics the decision stays "act when p >= 0.5", but it is
still stored as an `OperatingPoint` so that predict, serve and report read one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError
from kpiml.evaluation.metrics import Scorer
from kpiml.kpi import (
    OperatingPoint,
    OutOfFold,
    choose_operating_point,
    has_economics,
    holdout_figures,
    kpi_metric_name,
    kpi_score,
    max_rows,
    payoff_from_kpi,
    value_captured_at,
)
from kpiml.spec import Capacity, Economics, KpiBlock, Spec

#: AUC times this is added to the KPI so that equal profits are ranked by AUC (a tie-break
#: far below any difference in money that matters, and below the 6 decimals reported).
TIE_BREAK = 1e-7
HOLDOUT_BOOTSTRAP = 500


@dataclass
class KpiOutcome:
    """What training decided for the KPI: the point, the OOF rows it saw, hold-out figures."""

    economics: bool
    point: OperatingPoint | None = None
    oof: pd.DataFrame | None = None  # y, p (calibrated) and value of the OOF rows
    regression_rule: dict[str, Any] | None = None
    holdout: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The point in brief, for metadata.json and metrics.json (the full point has its own file)."""
        if self.point is None:
            return {"kind": "regression", "economics": self.economics, **(self.regression_rule or {})}
        p = self.point
        return {"file": "operating_point.json", "economics": self.economics, "kind": p.kind, "ranking": p.ranking,
                "threshold": p.threshold, "capacity_threshold": p.capacity_threshold, "oof_rows": p.oof_rows,
                "oof_share": p.oof_share, "realised_profit_per_row": p.realised_profit_per_row, "reason": p.reason}


def economics_given(spec: Spec) -> bool:
    """Whether the spec's KPI values decisions: a payoff (binary) or a cost of acting (regression)."""
    if spec.target.problem == "regression":
        return regression_cost(spec.kpi) is not None
    return spec.target.problem == "binary" and has_economics(spec.kpi)


def regression_cost(kpi: KpiBlock) -> float | None:
    """Cost of acting on a row for a regression KPI: cost_fp, else the contact cost, else none."""
    e = kpi.economics
    if e.cost_fp:
        return float(e.cost_fp)
    return float(e.contact) if e.contact is not None else None


def kpi_values(spec: Spec, frame: pd.DataFrame) -> np.ndarray | None:
    """The value column as floats, one per row of `frame`; every value must be finite."""
    from kpiml.features import coerce_column

    name = spec.kpi.economics.value_column
    if name is None:
        return None
    if name not in frame.columns:
        raise KpimlError(f"Value column '{name}' (kpi.economics.value_column) is not in the data",
                         fix="pass an existing column to --value-column, or remove value_column from kpiml.yaml")
    values = np.asarray(coerce_column(frame[name], "numeric"), dtype="float64")
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        rows = ", ".join(str(int(i) + 1) for i in bad[:10])
        raise KpimlError(f"Value column '{name}' has {len(bad)} missing or non-numeric values (data rows {rows}{' ...' if len(bad) > 10 else ''})",
                         expected="an amount on every row", fix="fill or drop those rows, or choose another --value-column")
    return values


def scoring_kpi(kpi: KpiBlock, n_rows: int, contact: float | None) -> KpiBlock:
    """The KPI with a count or budget capacity read as a share of the rows the point is chosen on.

    Folds are smaller than the training part: a fixed count would let each fold act on a larger
    share than the deployed point will, so every fold is held to the same share instead.
    """
    limit = max_rows(kpi.capacity, n_rows, contact)
    if limit is None or kpi.capacity.share is not None:
        return kpi
    if limit == 0:
        raise KpimlError("The capacity allows no action at all", got=f"{limit} of {n_rows} rows",
                         fix="raise --capacity / --capacity-budget, or lower --contact")
    return kpi.model_copy(update={"capacity": Capacity(share=min(1.0, limit / n_rows))})


def kpi_scorer(spec: Spec, values_train: np.ndarray | None, n_train: int) -> Scorer:
    """A `Scorer` maximising the KPI on OOF predictions, AUC as tie-break; rows line values up."""
    from sklearn.metrics import roc_auc_score

    payoff = payoff_from_kpi(spec.kpi, values_train)
    kpi = scoring_kpi(spec.kpi, n_train, payoff.contact)

    def score(y: np.ndarray, pred: np.ndarray, rows: np.ndarray) -> float:
        p = pred[:, 1] if pred.ndim == 2 else pred
        part = payoff if payoff.is_scalar else payoff.take(rows)
        auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else 0.5
        return kpi_score(y, p, part, kpi.capacity) + TIE_BREAK * auc

    return Scorer(kpi_metric_name(spec.kpi), True, None, ("binary",), row_func=score)


def _no_economics_kpi(kpi: KpiBlock) -> KpiBlock:
    """A unit payoff (+1 right, -1 wrong) whose break-even is p = 0.5: the default decision rule."""
    reason = ("No economics were given, so the decision is the default 'act when p >= 0.5' (a unit payoff, "
              "+1 for a correct action and -1 for a wasted one, breaks even there); expected values are not in currency.")
    unit = Economics(benefit_tp=1.0, cost_fp=1.0, contact=kpi.economics.contact)
    return kpi.model_copy(update={"template": "custom", "economics": unit, "reason": reason})


def default_point(y: np.ndarray, p: np.ndarray, kpi: KpiBlock) -> OperatingPoint:
    """The p >= 0.5 rule (capped by the capacity, if one was given) as an operating point."""
    from kpiml.kpi.economics import capacity_text

    unit = _no_economics_kpi(kpi)
    act = p >= 0.5
    contact = unit.economics.contact
    limit = max_rows(unit.capacity, len(p), contact)
    acted = int(act.sum()) if limit is None else min(int(act.sum()), limit)
    order = np.argsort(-p, kind="stable")[:acted]
    gain = float(np.sum(np.where(y[order] == 1, 1.0, -1.0)))
    capped = limit is not None and acted < int(act.sum())
    reason = unit.reason + (f" The capacity ({capacity_text(unit.capacity, contact)}) caps it at the top {acted} of {len(p)} out-of-fold rows." if capped else "")
    return OperatingPoint(kind="top_k" if capped else "threshold", ranking="probability", threshold=0.5,
                          max_share=unit.capacity.share, oof_rows=len(p), oof_acted=acted,
                          max_count=None if unit.capacity.share is not None else max_rows(unit.capacity, 2**62, contact),
                          oof_share=acted / len(p), realised_profit_per_row=gain / len(p),
                          expected_profit_per_row=float(np.sum(2 * p[order] - 1)) / len(p),
                          capacity_threshold=float(p[order[-1]]) if capped and acted else None,
                          unconstrained_share=float(act.mean()), payoff="no economics: unit payoff (benefit_tp = 1, cost_fp = 1)",
                          reason=reason, kpi=unit)


def binary_outcome(spec: Spec, y_oof: np.ndarray, p_oof: np.ndarray, values_oof: np.ndarray | None) -> KpiOutcome:
    """Choose the operating point on calibrated OOF predictions of the training rows only."""
    economics = has_economics(spec.kpi)
    if economics:
        point = choose_operating_point(OutOfFold(y_oof, p_oof, values_oof), spec.kpi)
    else:
        point = default_point(y_oof, p_oof, spec.kpi)
    oof = pd.DataFrame({"y": y_oof.astype("int8"), "p": p_oof.astype("float64")})
    if values_oof is not None:
        oof["value"] = values_oof
    note = f"operating point chosen on {point.oof_rows:,} calibrated out-of-fold rows of the training part (never the hold-out): {point.reason}"
    return KpiOutcome(economics=economics, point=point, oof=oof, notes=[note])


def binary_holdout(outcome: KpiOutcome, y: np.ndarray, p: np.ndarray, values: np.ndarray | None, seed: int) -> dict[str, float]:
    """The point applied once to the hold-out: KPI figures with bootstrap intervals, flattened."""
    if not outcome.economics or outcome.point is None:
        return {}
    if len(np.unique(y)) < 2:
        outcome.notes.append("hold-out KPI figures skipped: the hold-out holds a single class")
        return {}
    figures = holdout_figures(y, p, outcome.point, values, n_boot=HOLDOUT_BOOTSTRAP, seed=seed)
    flat: dict[str, float] = {}
    for name, ci in figures.items():
        flat[name] = round(ci.estimate, 6)
        if ci.n_boot:
            flat[f"{name}_low"], flat[f"{name}_high"] = round(ci.low, 6), round(ci.high, 6)
    return flat


def regression_outcome(spec: Spec) -> KpiOutcome:
    """Regression KPI: act where the predicted value beats the cost of acting, best first."""
    cost = regression_cost(spec.kpi)
    cap = spec.kpi.capacity.model_dump(exclude_none=True)
    rule = {"cost": cost, "capacity": cap, "contact": spec.kpi.economics.contact,
            "reason": (f"act where the predicted {spec.target.column} exceeds the cost of acting ({cost:g}), highest first"
                       + (", within the capacity" if cap else "")) if cost is not None else "no cost of acting given: no decisions"}
    return KpiOutcome(economics=cost is not None, regression_rule=rule)


def regression_holdout(outcome: KpiOutcome, spec: Spec, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Value captured in the top 10 / 20 % by prediction and, with a cost, the profit of the decisions."""
    from kpiml.kpi import regression_decisions

    out = {f"value_captured_at_{int(k * 100)}": round(value_captured_at(y, pred, k), 6) for k in (0.1, 0.2)}
    rule = outcome.regression_rule or {}
    if rule.get("cost") is not None:
        limit = max_rows(spec.kpi.capacity, len(pred), rule.get("contact"))
        decision, _ = regression_decisions(pred, float(rule["cost"]), limit)
        out["decision_profit_per_row"] = round(float(np.sum((y - rule["cost"]) * decision)) / len(y), 6)
        out["share_acted"] = round(float(decision.mean()), 6)
    return out


def cv_figure(scorer: Scorer, y: np.ndarray, pred: np.ndarray, rows: np.ndarray) -> float:
    """The selection KPI of the OOF predictions, without the AUC tie-break."""
    p = pred[:, 1] if pred.ndim == 2 else pred
    auc = 0.5
    if 0 < y.sum() < len(y):
        from sklearn.metrics import roc_auc_score

        auc = float(roc_auc_score(y, p))
    return round(scorer.score(y, pred, rows) - TIE_BREAK * auc, 6)
