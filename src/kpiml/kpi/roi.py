"""ROI what-if: new economics or capacity on stored predictions, without retraining.

A trained bundle keeps its out-of-fold (or hold-out) probabilities and labels; a change of CLV,
incentive, acceptance or capacity changes only which rows are worth acting on, not the model.
So the operating point is chosen again on the stored rows, and the campaign's profit, spend
and ROI (profit / spend) are recomputed. The figures are realised on the stored labels with
a bootstrap interval (decisions held fixed); since the point is chosen on the same rows they
lean slightly optimistic, which is why the expected profit from the probabilities alone is
reported beside them. Returns data; printing is the CLI's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from kpiml.errors import KpimlError
from kpiml.kpi.bootstrap import ConfidenceInterval, bootstrap_ci, bootstrap_mean_ci
from kpiml.kpi.economics import Payoff, max_rows, payoff_from_kpi
from kpiml.kpi.operating_point import (
    OperatingPoint,
    OutOfFold,
    apply_operating_point,
    choose_operating_point,
)
from kpiml.kpi.profit import check_labels, row_gains
from kpiml.spec import Capacity, Economics, KpiBlock

_CAPACITY_KEYS = {"capacity_share": "share", "capacity_count": "count", "capacity_budget": "budget"}


@dataclass(frozen=True)
class RoiResult:
    """A campaign on `rows` customers under the given economics (totals scaled to `rows`)."""

    point: OperatingPoint
    rows: int
    acted: int
    share_acted: float
    profit: float
    profit_ci: ConfidenceInterval
    expected_profit: float
    spend: float
    roi: float
    roi_ci: ConfidenceInterval | None

    def summary(self) -> dict[str, Any]:
        """Flat figures for a table or JSON."""
        return {"rows": self.rows, "acted": self.acted, "share_acted": self.share_acted, "profit": self.profit,
                "profit_low": self.profit_ci.low, "profit_high": self.profit_ci.high,
                "expected_profit": self.expected_profit, "spend": self.spend, "roi": self.roi,
                "roi_low": self.roi_ci.low if self.roi_ci else float("nan"),
                "roi_high": self.roi_ci.high if self.roi_ci else float("nan")}


def with_changes(kpi: KpiBlock, **changes: float | None) -> KpiBlock:
    """The KPI block with some economics terms or the capacity replaced, validated like the spec.

    Keys are `kpiml.spec.Economics` fields (clv, incentive, contact, acceptance, ...) or
    capacity_share / capacity_count / capacity_budget (one replaces any other capacity).
    None values are ignored, so CLI options can be passed straight through.
    """
    given = {k: v for k, v in changes.items() if v is not None}
    unknown = sorted(set(given) - set(Economics.model_fields) - set(_CAPACITY_KEYS))
    if unknown:
        raise KpimlError(f"Unknown what-if term {', '.join(unknown)}", expected=", ".join([*Economics.model_fields, *_CAPACITY_KEYS]),
                         fix="use one of the expected names")
    econ = {k: v for k, v in given.items() if k in Economics.model_fields}
    cap = {_CAPACITY_KEYS[k]: v for k, v in given.items() if k in _CAPACITY_KEYS}
    try:
        economics = Economics.model_validate({**kpi.economics.model_dump(), **econ})
        capacity = Capacity.model_validate(cap) if cap else kpi.capacity
    except ValidationError as exc:
        err = exc.errors()[0]
        raise KpimlError(f"What-if value for {'.'.join(map(str, err['loc'])) or 'capacity'} is not valid: {err['msg']}",
                         got=str(err.get("input")), fix="pass a value in the allowed range") from None
    return kpi.model_copy(update={"economics": economics, "capacity": capacity})


def _per_campaign(kpi: KpiBlock, n_stored: int, rows: int, contact: float | None) -> KpiBlock:
    """Express a count or budget capacity (meant for `rows` customers) as a share of the rows."""
    limit = max_rows(kpi.capacity, rows, contact)
    if limit is None or kpi.capacity.share is not None or rows == n_stored:
        return kpi
    share = limit / rows
    if share == 0:
        raise KpimlError("The capacity allows no contact at all", got=f"{limit} of {rows} rows", fix="raise the capacity")
    return kpi.model_copy(update={"capacity": Capacity(share=min(1.0, share))})


def _contributions(y: np.ndarray, act: np.ndarray, payoff: Payoff) -> tuple[np.ndarray, np.ndarray]:
    """Per-row incremental profit and spend of the campaign (0 on rows not acted on)."""
    profit = np.where(act, row_gains(y, payoff), 0.0)
    spend = np.where(act, y * payoff.spend_tp + (1 - y) * payoff.spend_fp, 0.0)
    return profit, spend


@dataclass(frozen=True)
class _Run:
    point: OperatingPoint
    act: np.ndarray
    profit: np.ndarray
    spend: np.ndarray
    expected: float


def _run(y: np.ndarray, p: np.ndarray, kpi: KpiBlock, values: np.ndarray | None, rows: int) -> _Run:
    """Choose the point on the stored rows and return its per-row campaign figures."""
    payoff = payoff_from_kpi(kpi, values)
    point = choose_operating_point(OutOfFold(y, p, values), _per_campaign(kpi, len(y), rows, payoff.contact))
    act, ev = apply_operating_point(point, p, values)
    profit, spend = _contributions(y, act.astype(bool), payoff)
    return _Run(point, act, profit, spend, float(np.sum(ev[act == 1])))


def campaign(y: np.ndarray, p: np.ndarray, kpi: KpiBlock, values: np.ndarray | None = None, *, rows: int | None = None,
             n_boot: int = 1000, seed: int = 0) -> RoiResult:
    """Choose the point for `kpi` on stored predictions and report the campaign it implies.

    `rows` is the campaign's number of customers (default: the stored rows); totals are scaled
    to it and a count or budget capacity is read as meant for that many customers.
    """
    y_arr, p_arr = check_labels(y, p)
    assert p_arr is not None
    n = len(y_arr)
    rows = rows or n
    run = _run(y_arr, p_arr, kpi, values, rows)
    ci = bootstrap_mean_ci(run.profit, n_boot=n_boot, seed=seed, stratify=y_arr)
    profit_ci = ConfidenceInterval(ci.estimate * rows, ci.low * rows, ci.high * rows, ci.level, ci.n_boot)
    roi_ci = bootstrap_ci(_ratio, run.profit, run.spend, n_boot=n_boot, seed=seed, stratify=y_arr) if run.spend.sum() > 0 else None
    scale = rows / n
    return RoiResult(point=run.point, rows=rows, acted=round(int(run.act.sum()) * scale), share_acted=float(run.act.mean()),
                     profit=float(run.profit.sum()) * scale, profit_ci=profit_ci, expected_profit=run.expected * scale,
                     spend=float(run.spend.sum()) * scale, roi=_ratio(run.profit, run.spend), roi_ci=roi_ci)


def _ratio(profit: np.ndarray, spend: np.ndarray) -> float:
    total = float(np.sum(spend))
    return float(np.sum(profit)) / total if total > 0 else float("nan")


def _main_terms(kpi: KpiBlock) -> list[str]:
    """The economics terms a sensitivity table varies for this template (those that are set)."""
    e = kpi.economics
    by_template = {"churn": ["clv", "incentive", "contact", "acceptance"], "conversion": ["margin", "contact"],
                   "credit": ["loss_given_default", "margin"]}
    terms = by_template.get(kpi.template, ["benefit_tp", "cost_fp", "cost_fn", "benefit_tn"])
    if e.value_column:
        terms = [t for t in terms if t not in ("clv", "margin", "benefit_tp")] + ["values"]
    return [t for t in terms if t in ("acceptance", "values") or getattr(e, t) not in (None, 0.0)]


def _acceptance_scaled(e: Economics, factor: float) -> dict[str, float]:
    """Scale the mean acceptance rate (capped below 1); a Beta keeps its alpha + beta (its spread)."""
    if e.acceptance is not None:
        return {"acceptance": min(1.0, e.acceptance * factor)}
    a, b = (e.acceptance_alpha, e.acceptance_beta) if e.acceptance_alpha and e.acceptance_beta else (6.0, 14.0)
    mean = min(0.99, a / (a + b) * factor)
    return {"acceptance_alpha": mean * (a + b), "acceptance_beta": (1 - mean) * (a + b)}


def _varied(kpi: KpiBlock, values: np.ndarray | None, term: str, factor: float) -> tuple[KpiBlock, np.ndarray | None, float]:
    """The KPI (and values) with one term scaled by `factor`, and the term's new value."""
    e = kpi.economics
    if term == "values":
        assert values is not None
        return kpi, values * factor, float(np.mean(values)) * factor
    if term == "acceptance":
        change = _acceptance_scaled(e, factor)
        new = with_changes(kpi, **change)
        mean = change.get("acceptance", change.get("acceptance_alpha", 0.0) / sum(change.values()))
        return new, values, mean
    value = float(getattr(e, term)) * factor
    return with_changes(kpi, **{term: value}), values, value


def _capacity_variants(kpi: KpiBlock, factors: tuple[float, ...]) -> list[tuple[float, str, float]]:
    """(factor, key, value) of capacity settings to try: the set one scaled, else a few shares."""
    c = kpi.capacity
    if c.share is not None:
        return [(f, "capacity_share", min(1.0, c.share * f)) for f in factors]
    if c.count is not None:
        return [(f, "capacity_count", max(1, round(c.count * f))) for f in factors]
    if c.budget is not None:
        return [(f, "capacity_budget", c.budget * f) for f in factors]
    return [(float("nan"), "capacity_share", s) for s in (0.05, 0.1, 0.2, 0.3, 0.5)]


def _row(y: np.ndarray, p: np.ndarray, kpi: KpiBlock, values: np.ndarray | None, rows: int) -> dict[str, float | str]:
    try:
        run = _run(y, p, kpi, values, rows)
    except KpimlError as exc:
        return {"note": exc.what}
    scale = rows / len(y)
    return {"share_acted": float(run.act.mean()), "acted": round(int(run.act.sum()) * scale),
            "profit": float(run.profit.sum()) * scale, "profit_per_row": float(run.profit.mean()),
            "expected_profit": run.expected * scale, "spend": float(run.spend.sum()) * scale,
            "roi": _ratio(run.profit, run.spend), "note": ""}


def sensitivity(y: np.ndarray, p: np.ndarray, kpi: KpiBlock, values: np.ndarray | None = None, *, rows: int | None = None,
                factors: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5)) -> pd.DataFrame:
    """One row per (parameter, factor): the point re-chosen and the campaign's figures.

    Each main term of the template (e.g. CLV, incentive, contact, acceptance for churn) and the
    capacity is scaled by each factor while the others stay; a combination that is not valid
    economics (say an incentive above the CLV) gets a note instead of figures.
    """
    y_arr, p_arr = check_labels(y, p)
    assert p_arr is not None
    rows = rows or len(y_arr)
    records: list[dict[str, Any]] = []
    for term in _main_terms(kpi):
        for f in factors:
            try:
                new, vals, value = _varied(kpi, values, term, f)
            except KpimlError as exc:
                records.append({"parameter": term, "factor": f, "value": float("nan"), "note": exc.what})
                continue
            records.append({"parameter": term, "factor": f, "value": value, **_row(y_arr, p_arr, new, vals, rows)})
    for f, key, value in _capacity_variants(kpi, factors):
        new = with_changes(kpi, **{key: value})
        records.append({"parameter": key, "factor": f, "value": value, **_row(y_arr, p_arr, new, values, rows)})
    columns = ["parameter", "factor", "value", "share_acted", "acted", "profit", "profit_per_row",
               "expected_profit", "spend", "roi", "note"]
    return pd.DataFrame.from_records(records, columns=columns)
