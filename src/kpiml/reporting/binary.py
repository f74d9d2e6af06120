"""Binary model sections: KPI figures, curves and the confusion matrix at the operating point.

Everything is computed on the report's evidence (the stored hold-out, or new labelled rows)
with the bundle's operating point applied as it is in production; curves come from
scikit-learn and `kpiml.kpi` (the same profit arithmetic as training and `kpiml roi`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kpiml.kpi.operating_point import OperatingPoint
from kpiml.reporting import charts
from kpiml.reporting.evidence import Evidence
from kpiml.reporting.stats import metric_table

CALIBRATION_BINS = 10


def decisions(evidence: Evidence, point: OperatingPoint | None) -> np.ndarray:
    """The operating point applied to the evidence as one batch (a capacity holds over it)."""
    from kpiml.kpi import apply_operating_point

    if point is None:
        return (evidence.score >= 0.5).astype(np.int64)
    return apply_operating_point(point, evidence.score, evidence.values)[0]


def row_profit(evidence: Evidence, point: OperatingPoint | None, act: np.ndarray) -> np.ndarray | None:
    """Each row's profit of the decisions against doing nothing (None without economics)."""
    from kpiml.kpi import payoff_from_kpi
    from kpiml.kpi.profit import row_gains

    if point is None:
        return None
    payoff = payoff_from_kpi(point.kpi, evidence.values)
    return np.where(act == 1, row_gains(evidence.y, payoff), 0.0)


_NAMES = {"profit_per_row": "profit per customer at the operating point", "max_profit_per_row": "best possible threshold on these rows",
          "regret_per_row": "regret against a perfect model", "gain_at_k": "share of positives in the top 10 %",
          "emp_per_customer": "EMP per customer (expected maximum profit)", "share_acted": "share acted on"}


def kpi_figures(evidence: Evidence, point: OperatingPoint | None, economics: bool, n_boot: int,
                stored: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Hold-out KPI figures with bootstrap intervals (`kpiml.kpi.holdout_figures`, as training reports them).

    `stored` is the flat hold-out block of metrics.json: when the evidence is that hold-out, its
    figures were computed by the same function at train time and are reused as they are.
    """
    from kpiml.kpi import holdout_figures

    if not economics or point is None or len(np.unique(evidence.y)) < 2:
        return []
    if stored and "profit_per_row" in stored:
        return [{"name": name, "key": k, "estimate": stored[k], "low": stored.get(f"{k}_low"), "high": stored.get(f"{k}_high")}
                for k, name in _NAMES.items() if k in stored]
    figures = holdout_figures(evidence.y, evidence.score, point, evidence.values, n_boot=n_boot)
    return [{"name": name, "key": k, "estimate": figures[k].estimate, "low": figures[k].low if figures[k].n_boot else None,
             "high": figures[k].high if figures[k].n_boot else None} for k, name in _NAMES.items() if k in figures]


def curves(evidence: Evidence, point: OperatingPoint | None, act: np.ndarray, economics: bool) -> list[dict[str, str]]:
    """Profit versus share contacted, cumulative gains, lift, ROC, PR and calibration, as SVG."""
    y, p = evidence.y, evidence.score
    share = float(act.mean())
    out = []
    if economics and point is not None:
        out.append({"name": "profit", "svg": _profit_svg(evidence, point, share, act),
                    "caption": "Profit against doing nothing, acting on the top share of rows by the ranking the operating point uses; the red dot is the operating point."})
    order = np.argsort(-p, kind="stable")
    hits = np.cumsum(y[order])
    frac = np.arange(1, len(y) + 1) / len(y)
    gains = hits / max(hits[-1], 1)
    out.append({"name": "gains", "svg": charts.line_chart([("model", np.r_[0, frac], np.r_[0, gains])], xlabel="share of rows contacted (highest score first)",
                ylabel="share of positives reached", title="Cumulative gains", diagonal=True, percent_x=True,
                marks=[(f"operating point ({share:.0%})", share, float(np.interp(share, np.r_[0, frac], np.r_[0, gains])))]),
                "caption": "The dashed line is random contact."})
    lift = (hits / np.arange(1, len(y) + 1)) / max(y.mean(), 1e-12)
    start = max(1, int(0.01 * len(y)))
    out.append({"name": "lift", "svg": charts.line_chart([("model", frac[start - 1:], lift[start - 1:])], xlabel="share of rows contacted",
                ylabel="lift over random", title="Lift", percent_x=True), "caption": "Positive rate among the top share divided by the overall rate."})
    out += _roc_pr(y, p)
    out.append(_calibration(y, p))
    return out


def _profit_svg(evidence: Evidence, point: OperatingPoint, share: float, act: np.ndarray) -> str:
    from kpiml.kpi import payoff_from_kpi, profit_curve

    payoff = payoff_from_kpi(point.kpi, evidence.values)
    curve = profit_curve(evidence.y, evidence.score, payoff)
    gain = curve.profit - curve.profit[0]
    gains = row_profit(evidence, point, act)
    at_point = float(gains.sum()) if gains is not None else 0.0
    return charts.line_chart([("realised", curve.share, gain)], xlabel="share of rows acted on", ylabel="profit vs doing nothing",
                             title="Profit by share contacted", percent_x=True, marks=[(f"operating point: {at_point:,.0f}", share, at_point)])


def _roc_pr(y: np.ndarray, p: np.ndarray) -> list[dict[str, str]]:
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    if len(np.unique(y)) < 2:
        return []
    fpr, tpr, _ = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    roc = charts.line_chart([(f"AUC {roc_auc_score(y, p):.3f}", fpr, tpr)], xlabel="false positive rate", ylabel="true positive rate",
                            title="ROC curve", diagonal=True)
    pr = charts.line_chart([(f"AP {average_precision_score(y, p):.3f}", recall, precision), ("base rate", np.array([0, 1]), np.full(2, y.mean()))],
                           xlabel="recall", ylabel="precision", title="Precision-recall curve")
    return [{"name": "roc", "svg": roc, "caption": "The dashed line is a model that ranks at random."},
            {"name": "pr", "svg": pr, "caption": "Precision among the rows above each score, against the share of positives found."}]


def _calibration(y: np.ndarray, p: np.ndarray) -> dict[str, str]:
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y, p, n_bins=CALIBRATION_BINS, strategy="quantile")
    svg = charts.line_chart([("model", predicted, observed)], xlabel="mean predicted probability", ylabel="observed rate",
                            title="Calibration (reliability)", diagonal=True)
    return {"name": "calibration", "svg": svg, "caption": f"{CALIBRATION_BINS} bins of equal size; on the dashed line a predicted 30 % means 30 % happen."}


def confusion(evidence: Evidence, act: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Counts of (actual, decision) at the operating point, with the chart."""
    y = evidence.y.astype(int)
    m = np.array([[np.sum((y == a) & (act == d)) for d in (0, 1)] for a in (0, 1)])
    names = labels if len(labels) == 2 else ["negative", "positive"]
    svg = charts.heatmap(m, [f"actual {names[0]}", f"actual {names[1]}"], ["not acted on", "acted on"], xlabel="decision", ylabel="",
                         title="Confusion matrix at the operating point")
    return {"svg": svg, "matrix": m.tolist()}


def metrics(evidence: Evidence, act: np.ndarray, n_boot: int) -> list[dict[str, Any]]:
    """AUC, PR-AUC, Brier, log loss and the precision / recall of the decisions, with intervals."""
    return metric_table("binary", evidence.y, evidence.pred, n_boot, act=act)
