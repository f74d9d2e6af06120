"""The operating point: which rows to act on, chosen on out-of-fold predictions only.

`choose_operating_point` takes an `OutOfFold` (labels and calibrated probabilities of the
training rows, each predicted by a model that did not see it) and nothing else, so no hold-out
row can reach it: the hold-out stays an honest test of the point as well as of the model.

Rows are ranked by expected net value p * gain - (1 - p) * loss (by p itself when payoffs are
scalars, the same order). The point is the threshold on that score that maximises the
*realised* OOF profit. Realised rather than expected profit: with calibrated probabilities both
agree in expectation (the expected optimum is the break-even p = loss / (gain + loss)), but the
realised profit also corrects what calibration left behind, and on thousands of OOF rows its
noise is small where the curve is flat. The capacity is a hard limit: when the best threshold
acts on more rows than allowed, the point becomes "top_k": the threshold stays as the bar a row
must clear, and only the top capacity of the rows above it are acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from kpiml.errors import KpimlError
from kpiml.kpi.economics import Payoff, capacity_text, max_rows, payoff_from_kpi
from kpiml.kpi.profit import (
    BestPoint,
    baseline_profit,
    capped_count,
    check_labels,
    check_scores,
    expected_values,
    profit_curve,
    rank,
    ranking_score,
    ranks_by_probability,
)
from kpiml.spec import KpiBlock


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold labels and calibrated probabilities of the training rows (never hold-out rows).

    `values` is the value column of the same rows when the economics use one.
    """

    y: np.ndarray
    p: np.ndarray
    values: np.ndarray | None = None


class OperatingPoint(BaseModel):
    """Where to act, why, and under which economics; stored in the model bundle as JSON.

    Act on a row when its ranking score (p, or the expected value when payoffs are per row) is
    at least `threshold` (None: act on no row), keeping only the top rows of a batch allowed by
    the capacity in `kpi.capacity`.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["threshold", "top_k"]
    ranking: Literal["probability", "expected_value"]
    threshold: float | None
    max_share: float | None
    max_count: int | None
    capacity_threshold: float | None
    oof_rows: int
    oof_acted: int
    oof_share: float
    realised_profit_per_row: float
    expected_profit_per_row: float
    unconstrained_share: float
    payoff: str
    reason: str
    kpi: KpiBlock


def _max_count(kpi: KpiBlock, payoff: Payoff) -> int | None:
    """A fixed number of rows per batch (count or budget); a share is resolved per batch."""
    if kpi.capacity.share is not None:
        return None
    return max_rows(kpi.capacity, 2**62, payoff.contact)


def _reason(ranking: str, free: BestPoint, chosen: int, limit: int | None, kpi: KpiBlock, payoff: Payoff) -> str:
    by = "p" if ranking == "probability" else "expected value p·benefit − (1 − p)·cost"
    if free.count == 0:
        head = f"On {free.n} out-of-fold rows no threshold made acting pay, so no row is acted on"
    else:
        head = (f"Rows are ranked by {by}; acting where it is ≥ {free.threshold:.4g} maximised the realised profit on "
                f"{free.n} out-of-fold rows ({free.profit_per_row:.4g} per row, acting on {free.share:.1%})")
    if limit is not None and free.count > limit:
        head += (f". The capacity ({capacity_text(kpi.capacity, payoff.contact)}) is a hard limit, so only the top "
                 f"{chosen} rows ({chosen / free.n:.1%}) above that bar are acted on")
    return f"{head}. Economics: {payoff.derivation}."


def choose_operating_point(oof: OutOfFold, kpi: KpiBlock) -> OperatingPoint:
    """Pick the threshold (and capacity cut) that maximises realised profit on OOF predictions."""
    y, p = check_labels(oof.y, oof.p)
    assert p is not None
    payoff = payoff_from_kpi(kpi, oof.values)
    payoff.check_rows(len(y))
    curve = profit_curve(y, p, payoff)
    limit = max_rows(kpi.capacity, len(y), payoff.contact)
    free, chosen = capped_count(curve, limit)
    ranking: Literal["probability", "expected_value"] = "probability" if ranks_by_probability(payoff) else "expected_value"
    return OperatingPoint(
        kind="top_k" if chosen < free.count else "threshold", ranking=ranking,
        threshold=None if free.count == 0 else free.threshold,
        max_share=kpi.capacity.share, max_count=_max_count(kpi, payoff),
        oof_rows=len(y), oof_acted=chosen, oof_share=chosen / len(y),
        realised_profit_per_row=float(curve.profit[chosen]) / len(y),
        expected_profit_per_row=_expected_at(p, payoff, chosen),
        capacity_threshold=float(curve.score[chosen]) if 0 < chosen < free.count else None,
        unconstrained_share=free.share, payoff=payoff.derivation,
        reason=_reason(ranking, free, chosen, limit, kpi, payoff), kpi=kpi,
    )


def _expected_at(p: np.ndarray, payoff: Payoff, count: int) -> float:
    """Expected profit per row of acting on the top `count` rows of the ranking (no labels)."""
    order = rank(ranking_score(p, payoff))[:count]
    ev = expected_values(p, payoff) * np.ones(len(p))
    return (baseline_profit(p, payoff) + float(ev[order].sum())) / len(p)


def apply_operating_point(point: OperatingPoint, p: np.ndarray, values: np.ndarray | None = None, *,
                          per_batch: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Decisions (0/1) and expected net value of acting for each row of a new batch.

    A row is acted on when its score clears the threshold; the capacity then keeps the top
    share (or count) of the batch by score among those rows, so it is never exceeded. Rows
    scored one at a time (REST) have no batch to take a share of: with `per_batch=False` a row
    must instead clear `capacity_threshold`, the score at which the capacity bound on the
    out-of-fold rows, so that about the allowed share of a stream is acted on.
    """
    p_arr = check_scores(p)
    payoff = payoff_from_kpi(point.kpi, values)
    payoff.check_rows(len(p_arr))
    ev = expected_values(p_arr, payoff) * np.ones(len(p_arr))
    score = p_arr if point.ranking == "probability" else ev
    decision = np.zeros(len(p_arr), dtype=np.int64)
    if point.threshold is None or len(p_arr) == 0:
        return decision, ev
    eligible = score >= point.threshold
    if not per_batch:
        bar = point.capacity_threshold if point.capacity_threshold is not None else point.threshold
        return (eligible & (score >= bar)).astype(np.int64), ev
    limit = max_rows(point.kpi.capacity, len(p_arr), payoff.contact)
    order = rank(np.where(eligible, score, -np.inf))
    take = int(eligible.sum()) if limit is None else min(int(eligible.sum()), limit)
    decision[order[:take]] = 1
    return decision, ev


def regression_decisions(pred: np.ndarray, cost: float | np.ndarray, max_count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Regression KPI: act where the predicted value exceeds the cost of acting, best first.

    Returns the decisions and the expected net value pred - cost; `max_count` is a hard cap
    (resolve a capacity with `kpiml.kpi.economics.max_rows`).
    """
    pred_arr = check_scores(pred)
    if np.any(np.asarray(cost) < 0):
        raise KpimlError("The cost of acting cannot be negative", got=f"min {float(np.min(cost)):g}", fix="check kpi.economics")
    ev = pred_arr - cost
    positive = ev > 0
    order = rank(np.where(positive, ev, -np.inf))
    take = int(positive.sum()) if max_count is None else min(int(positive.sum()), max_count)
    decision = np.zeros(len(pred_arr), dtype=np.int64)
    decision[order[:take]] = 1
    return decision, ev
