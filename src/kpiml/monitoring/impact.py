"""KPI impact: what the model's decisions changed, measured against a hold-out control group.

Among the rows the model would act on, a hashed share was held out (control, not treated);
the rest were treated. Because the split is random given the identifier, the difference of
the treated and control outcome rates estimates the effect of acting, and the difference of
their mean realised values times the treated rows is the money the decisions made.

Intervals: Newcombe's hybrid score interval (method 10 of Newcombe 1998, via statsmodels) for
the difference of rates, because the control group is small by design (10 % of the acted
rows can be a few dozen customers) and rates like churn sit near 0, where the Wald interval
undercovers; Welch's t interval for the difference of mean values, whose per-row values are
bounded so the central limit theorem holds at these sizes (a bootstrap would cost more and
give the same). The simulator lets tests check the coverage of both against a known truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats

from kpiml.errors import KpimlError
from kpiml.monitoring.control import in_control

MIN_GROUP = 30


class Estimate(BaseModel):
    estimate: float
    low: float
    high: float
    confidence: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


class ImpactResult(BaseModel):
    """Treated versus control among the rows the model would act on."""

    treated_rows: int
    control_rows: int
    rate_treated: float
    rate_control: float
    rate_difference: Estimate = Field(description="Treated minus control outcome rate (Newcombe).")
    outcomes_changed: Estimate = Field(description="rate_difference x treated rows: outcomes caused by acting.")
    value_treated: float | None = None
    value_control: float | None = None
    value_difference: Estimate | None = Field(default=None, description="Treated minus control mean value per row (Welch).")
    incremental_value: Estimate | None = Field(default=None, description="value_difference x treated rows: money made.")
    enough: bool = Field(description=f"Both groups have at least {MIN_GROUP} rows.")


def _groups(act: np.ndarray, control: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, c = np.asarray(act, dtype=bool), np.asarray(control, dtype=bool)
    treated, held = a & ~c, a & c
    if not held.any() or not treated.any():
        raise KpimlError(
            "KPI impact needs both treated and control rows among the rows the model would act on",
            expected="a decision log scored with a control group (e.g. --holdout 0.1)",
            got=f"{int(treated.sum())} treated and {int(held.sum())} control rows",
            fix="score with `kpiml predict --holdout 0.1` (or serve with it) and monitor that decision log",
        )
    return treated, held


def _scaled(e: Estimate, factor: float) -> Estimate:
    return Estimate(estimate=e.estimate * factor, low=e.low * factor, high=e.high * factor, confidence=e.confidence)


def rate_difference(y_treated: np.ndarray, y_control: np.ndarray, confidence: float = 0.95) -> Estimate:
    """Difference of two proportions with Newcombe's hybrid score interval."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    k1, n1, k0, n0 = int(y_treated.sum()), len(y_treated), int(y_control.sum()), len(y_control)
    low, high = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff", alpha=1 - confidence)
    return Estimate(estimate=k1 / n1 - k0 / n0, low=float(low), high=float(high), confidence=confidence)


def mean_difference(v_treated: np.ndarray, v_control: np.ndarray, confidence: float = 0.95) -> Estimate:
    """Difference of two means with Welch's t interval (unequal variances)."""
    diff = float(v_treated.mean() - v_control.mean())
    if min(len(v_treated), len(v_control)) < 2 or (v_treated.var() == 0 and v_control.var() == 0):
        return Estimate(estimate=diff, low=diff, high=diff, confidence=confidence)
    ci = stats.ttest_ind(v_treated, v_control, equal_var=False).confidence_interval(confidence)
    return Estimate(estimate=diff, low=float(ci.low), high=float(ci.high), confidence=confidence)


def kpi_impact(
    outcome: np.ndarray, act: np.ndarray, control: np.ndarray, value: np.ndarray | None = None, confidence: float = 0.95
) -> ImpactResult:
    """Effect of acting among would-act rows: treated = act and not control, control = act and
    control (a control assigned among all rows is restricted to would-act rows here, as
    rows the model would not act on are not comparable)."""
    treated, held = _groups(act, control)
    y = np.asarray(outcome, dtype=np.float64)
    diff = rate_difference(y[treated], y[held], confidence)
    out = {"treated_rows": int(treated.sum()), "control_rows": int(held.sum()), "rate_treated": float(y[treated].mean()),
           "rate_control": float(y[held].mean()), "rate_difference": diff, "outcomes_changed": _scaled(diff, float(treated.sum())),
           "enough": bool(min(treated.sum(), held.sum()) >= MIN_GROUP)}
    if value is not None:
        v = np.asarray(value, dtype=np.float64)
        vd = mean_difference(v[treated], v[held], confidence)
        out |= {"value_treated": float(v[treated].mean()), "value_control": float(v[held].mean()),
                "value_difference": vd, "incremental_value": _scaled(vd, float(treated.sum()))}
    return ImpactResult.model_validate(out)


def realised_row_value(outcome: np.ndarray, treated: np.ndarray, *, outcome_value: float, treatment_cost: float) -> np.ndarray:
    """Per-row realised value: `outcome_value` per positive outcome (e.g. -CLV for a churner,
    +margin for a conversion) minus `treatment_cost` per treated row (contact + incentive)."""
    return np.asarray(outcome, dtype=np.float64) * outcome_value - np.asarray(treated, dtype=np.float64) * treatment_cost


@dataclass(frozen=True)
class Campaign:
    """A simulated campaign with its known truth."""

    frame: pd.DataFrame
    true_rate_difference: float
    true_value_difference: float


def simulate_campaign(
    n: int, base_rate: float, effect: float, holdout: float, seed: int, *,
    act_share: float = 0.3, clv: float = 200.0, cost: float = 10.0,
) -> Campaign:
    """Customers with churn risk around `base_rate`; the model acts on the riskiest `act_share`,
    holds out `holdout` of them by hashed id, and acting lowers each treated customer's churn
    probability by exactly `effect` (risks are floored at `effect`, so the truth is exact).
    `churn_untreated` is each customer's outcome had nobody been treated (same random draw)."""
    rng = np.random.default_rng(seed)
    conc = 8.0
    risk = np.clip(rng.beta(base_rate * conc, (1 - base_rate) * conc, n), effect, 1.0)
    score = np.clip(risk + rng.normal(0, 0.05, n), 0, 1)
    act = score >= np.quantile(score, 1 - act_share)
    ids = pd.Series([f"s{seed}-{i}" for i in range(n)])
    control = in_control(ids, holdout, salt=f"campaign-{seed}") & act
    treated = act & ~control
    draw = rng.random(n)
    churn = (draw < risk - effect * treated).astype(np.int8)
    value = realised_row_value(churn, treated, outcome_value=-clv, treatment_cost=cost)
    frame = pd.DataFrame({"id": ids, "score": score, "act": act, "control": control, "treated": treated, "churn": churn, "value": value,
                          "churn_untreated": (draw < risk).astype(np.int8)})
    return Campaign(frame=frame, true_rate_difference=-effect, true_value_difference=effect * clv - cost)
