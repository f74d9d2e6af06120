"""Profit of decisions under a payoff: realised (with labels) and expected (from probabilities).

Rows are ranked by the expected net value of acting, p * gain - (1 - p) * loss (see
`kpiml.kpi.economics`). With scalar payoffs that order is the order of p itself, so the
ranking uses p directly there: it is the same order without the rounding of the product.
Every total includes the baseline of acting on no one, so that a matrix with cost_fn or
benefit_tn reports the profit the matrix defines; with the usual matrices the baseline is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kpiml.errors import KpimlError
from kpiml.kpi.economics import Payoff


def check_labels(y: np.ndarray, p: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels as 0/1 ints and scores as finite floats of the same, non-zero length."""
    y_arr = np.asarray(y).reshape(-1)
    if y_arr.size == 0:
        raise KpimlError("No rows to evaluate", expected="at least one labelled row", got="0 rows", fix="check the split")
    if y_arr.dtype == bool:
        y_arr = y_arr.astype(int)
    values = np.unique(y_arr)
    if not np.isin(values, (0, 1)).all():
        raise KpimlError("Labels of a binary KPI must be 0 and 1", expected="0 (negative) or 1 (positive)",
                         got=", ".join(map(str, values[:5])), fix="encode the target with target.positive first")
    if p is None:
        return y_arr.astype(int), None
    return y_arr.astype(int), check_scores(p, len(y_arr))


def check_scores(p: np.ndarray, n: int | None = None) -> np.ndarray:
    """Scores as finite floats (of length n when given)."""
    arr = np.asarray(p, dtype=float).reshape(-1)
    if n is not None and len(arr) != n:
        raise KpimlError("Scores and labels differ in length", expected=f"{n} scores", got=f"{len(arr)}",
                         fix="pass the predictions of exactly the labelled rows")
    if not np.isfinite(arr).all():
        raise KpimlError("Scores contain missing or infinite values", expected="finite numbers",
                         got=f"{int((~np.isfinite(arr)).sum())} bad values", fix="check the model's predictions")
    return arr


def expected_values(p: np.ndarray, payoff: Payoff) -> np.ndarray:
    """Expected net value of acting on each row over leaving it: p * gain - (1 - p) * loss."""
    p = np.asarray(p, dtype=float)
    return p * payoff.gain - (1.0 - p) * payoff.loss


def ranks_by_probability(payoff: Payoff) -> bool:
    """Whether ranking by p is ranking by expected value (scalar payoffs with gain + loss > 0).

    Then the expected value is an increasing function of p, so both give the same order and
    p is the threshold a user can read.
    """
    return payoff.is_scalar and float(payoff.gain + payoff.loss) > 0


def ranking_score(p: np.ndarray, payoff: Payoff) -> np.ndarray:
    """The score rows are ranked and thresholded on: p for scalar payoffs, else expected value."""
    payoff.check_rows(len(np.asarray(p)))
    if ranks_by_probability(payoff):
        return np.asarray(p, dtype=float)
    return expected_values(p, payoff) * np.ones(len(np.asarray(p)))


def rank(score: np.ndarray) -> np.ndarray:
    """Row indices from the highest score to the lowest; ties keep their row order (stable)."""
    return np.argsort(-np.asarray(score, dtype=float), kind="stable")


def row_gains(y: np.ndarray, payoff: Payoff) -> np.ndarray:
    """Realised incremental value of acting on each row: gain on positives, -loss on negatives."""
    y = np.asarray(y, dtype=float)
    return y * payoff.gain - (1.0 - y) * payoff.loss


def baseline_profit(y: np.ndarray, payoff: Payoff) -> float:
    """Profit of acting on no one: missed positives cost cost_fn, left negatives earn benefit_tn."""
    y = np.asarray(y, dtype=float)
    return float(np.sum(-y * payoff.cost_fn + (1.0 - y) * payoff.benefit_tn))


def decision_profit(y: np.ndarray, act: np.ndarray, payoff: Payoff) -> float:
    """Total realised profit of acting on the rows where `act` is true."""
    y_arr, _ = check_labels(y)
    payoff.check_rows(len(y_arr))
    act = np.asarray(act, dtype=bool)
    return baseline_profit(y_arr, payoff) + float(np.sum(row_gains(y_arr, payoff)[act]))


def expected_decision_profit(p: np.ndarray, act: np.ndarray, payoff: Payoff) -> float:
    """Expected total profit of acting on `act`, from probabilities alone (forecast a campaign)."""
    p = check_scores(p)
    payoff.check_rows(len(p))
    act = np.asarray(act, dtype=bool)
    return baseline_profit(p, payoff) + float(np.sum(expected_values(p, payoff)[act]))


@dataclass(frozen=True)
class ProfitCurve:
    """Total profit of acting on the top `counts[i]` rows of the ranking, i = 0..n.

    `score[i]` is the ranking score of the last row acted on (inf at 0 rows); `cut[i]` says
    whether a threshold on the score can stop there (false inside a run of tied scores).
    """

    counts: np.ndarray
    profit: np.ndarray
    score: np.ndarray
    cut: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts[-1])

    @property
    def share(self) -> np.ndarray:
        return self.counts / max(self.n, 1)


def _curve(increments: np.ndarray, score: np.ndarray, baseline: float) -> ProfitCurve:
    order = rank(score)
    ranked = score[order]
    n = len(score)
    profit = baseline + np.concatenate([[0.0], np.cumsum(increments[order])])
    last = np.concatenate([[np.inf], ranked])
    cut = np.concatenate([[True], ranked[1:] != ranked[:-1], [True]]) if n else np.array([True])
    return ProfitCurve(counts=np.arange(n + 1), profit=profit, score=last, cut=cut)


def profit_curve(y: np.ndarray, p: np.ndarray, payoff: Payoff) -> ProfitCurve:
    """Realised profit over the share of rows acted on, ranked by expected net value."""
    y_arr, p_arr = check_labels(y, p)
    assert p_arr is not None
    score = ranking_score(p_arr, payoff)
    return _curve(row_gains(y_arr, payoff) * np.ones(len(y_arr)), score, baseline_profit(y_arr, payoff))


def expected_profit_curve(p: np.ndarray, payoff: Payoff) -> ProfitCurve:
    """Expected profit over the share acted on, from probabilities alone (no labels needed)."""
    p_arr = check_scores(p)
    score = ranking_score(p_arr, payoff)
    return _curve(expected_values(p_arr, payoff) * np.ones(len(p_arr)), score, baseline_profit(p_arr, payoff))


@dataclass(frozen=True)
class BestPoint:
    """The best point of a profit curve: act on rows with score >= threshold (count of them)."""

    profit: float
    count: int
    threshold: float
    n: int

    @property
    def profit_per_row(self) -> float:
        return self.profit / self.n

    @property
    def share(self) -> float:
        return self.count / self.n


def best_point(curve: ProfitCurve, max_count: int | None = None, thresholds_only: bool = True) -> BestPoint:
    """Highest profit on the curve within the capacity; the fewest rows among equal profits.

    With `thresholds_only` the point must be a threshold (not inside a run of tied scores);
    otherwise any top-k prefix counts, which is what a hard capacity can enforce.
    """
    allowed = curve.cut.copy() if thresholds_only else np.ones_like(curve.cut)
    if max_count is not None:
        allowed &= curve.counts <= max_count
    masked = np.where(allowed, curve.profit, -np.inf)
    i = int(np.argmax(masked))
    return BestPoint(profit=float(curve.profit[i]), count=int(curve.counts[i]), threshold=float(curve.score[i]), n=curve.n)


def capped_count(curve: ProfitCurve, limit: int | None) -> tuple[BestPoint, int]:
    """The best threshold of the curve and the rows acted on once the capacity caps it.

    The capacity is a hard limit, so the rows acted on are the top min(best count, limit) of
    the ranking; this is the rule the operating point deploys and the scorer selects by.
    """
    free = best_point(curve)
    return free, free.count if limit is None else min(free.count, limit)


def max_profit(y: np.ndarray, p: np.ndarray, payoff: Payoff, max_count: int | None = None) -> BestPoint:
    """The best realised profit any threshold on the ranking score reaches (within the capacity)."""
    return best_point(profit_curve(y, p, payoff), max_count)


def threshold_profit(y: np.ndarray, p: np.ndarray, payoff: Payoff, threshold: float) -> float:
    """Realised profit of acting on every row with p >= threshold (e.g. the naive 0.5 rule)."""
    y_arr, p_arr = check_labels(y, p)
    return decision_profit(y_arr, np.asarray(p_arr) >= threshold, payoff)


def perfect_profit(y: np.ndarray, payoff: Payoff, max_count: int | None = None) -> float:
    """Profit of a perfect model: it acts on the rows that gain most, only where acting pays."""
    y_arr, _ = check_labels(y)
    payoff.check_rows(len(y_arr))
    gains = np.sort(row_gains(y_arr, payoff) * np.ones(len(y_arr)))[::-1]
    gains = gains[gains > 0][: max_count if max_count is not None else None]
    return baseline_profit(y_arr, payoff) + float(gains.sum())


def regret(y: np.ndarray, act: np.ndarray, payoff: Payoff, max_count: int | None = None) -> float:
    """Profit left on the table against a perfect model under the same capacity (>= 0)."""
    return perfect_profit(y, payoff, max_count) - decision_profit(y, act, payoff)


def profit_per_customer(profit: float, n: int) -> float:
    """Profit divided by all rows scored (not only those acted on), as EMP is reported."""
    if n <= 0:
        raise KpimlError("Profit per customer needs at least one customer", got=str(n), fix="check the rows scored")
    return profit / n


def _top_count(k: float, n: int) -> int:
    if not 0 < k <= 1:
        raise KpimlError("The top share k must be a fraction of the rows", expected="0 < k <= 1", got=f"{k:g}",
                         fix="use e.g. 0.1 for the top 10 %")
    return max(1, math.ceil(k * n - 1e-9))


def top_sum(weights: np.ndarray, score: np.ndarray, m: int) -> float:
    """Expected sum of `weights` over the top m rows by score, ties at the cut shared fairly.

    A tie straddling the cut has no order, so its rows count in proportion to the places left:
    the figure does not depend on the rows' order in the file.
    """
    w = np.asarray(weights, dtype=float)
    s = np.asarray(score, dtype=float)
    if m >= len(s):
        return float(w.sum())
    edge = np.sort(s)[::-1][m - 1]
    above = s > edge
    tied = s == edge
    places = m - int(above.sum())
    return float(w[above].sum() + w[tied].sum() * places / int(tied.sum()))


def cumulative_gain_at(y: np.ndarray, score: np.ndarray, k: float) -> float:
    """Share of all positives found in the top k share of rows by score."""
    y_arr, s = check_labels(y, score)
    assert s is not None
    total = y_arr.sum()
    if total == 0:
        return float("nan")
    return top_sum(y_arr, s, _top_count(k, len(s))) / float(total)


def lift_at(y: np.ndarray, score: np.ndarray, k: float) -> float:
    """Positive rate in the top k share by score divided by the overall positive rate."""
    y_arr, s = check_labels(y, score)
    assert s is not None
    base = y_arr.mean()
    if base == 0:
        return float("nan")
    m = _top_count(k, len(s))
    return top_sum(y_arr, s, m) / m / float(base)


def value_captured_at(value: np.ndarray, pred: np.ndarray, k: float) -> float:
    """Regression KPI: share of the total realised value held by the top k share by prediction."""
    v = check_scores(value)
    pred_arr = check_scores(pred, len(v))
    total = v.sum()
    if total == 0:
        return float("nan")
    return top_sum(v, pred_arr, _top_count(k, len(v))) / float(total)
