"""The value model: turn the `kpi` block of the spec into a payoff matrix and a row limit.

Every later number (expected profit, EMP, the operating point, the ROI what-if) is computed
from one `Payoff`, so the business terms are translated here and nowhere else. A payoff entry
is a scalar or a per-row array (from a value column such as the customer lifetime value),
which is what lets a campaign rank customers by what they are worth and not only by risk.

Conventions (all amounts in currency, costs counted positive):

- acting on a positive row earns `benefit_tp`, acting on a negative row costs `cost_fp`;
- not acting on a positive costs `cost_fn`, not acting on a negative earns `benefit_tn`.

The *incremental* value of acting over not acting is therefore `gain = benefit_tp + cost_fn`
on a positive and `-loss = -(cost_fp + benefit_tn)` on a negative; ranking and the operating
point use only `gain` and `loss`, the totals add the baseline of acting on no one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from kpiml.errors import KpimlError
from kpiml.spec import Capacity, Economics, KpiBlock

FloatOrArray = float | np.ndarray

#: Verbraken et al. (2013) suggest Beta(6, 14) (mean 0.3) when nothing is known of the acceptance rate.
DEFAULT_ACCEPTANCE_BETA = (6.0, 14.0)
_REL_TOL = 1e-9


@dataclass(frozen=True)
class ChurnTerms:
    """The churn template's business terms, kept for EMP (Verbraken et al. 2013 notation).

    `clv` is CLV, `incentive` is d, `contact` is f; the acceptance rate gamma is either fixed
    (`acceptance`) or Beta(`alpha`, `beta`) distributed. With a value column, `clv` is its mean.
    """

    clv: float
    incentive: float
    contact: float
    acceptance: float | None = None
    alpha: float | None = None
    beta: float | None = None

    @property
    def acceptance_mean(self) -> float:
        if self.acceptance is not None:
            return self.acceptance
        assert self.alpha is not None and self.beta is not None
        return self.alpha / (self.alpha + self.beta)

    @property
    def is_stochastic(self) -> bool:
        return self.acceptance is None


@dataclass(frozen=True)
class Payoff:
    """A payoff matrix whose entries are scalars or per-row arrays of one common length.

    `spend_tp` / `spend_fp` are the money actually paid out when acting on a positive / negative
    row (contact plus incentive); they are already inside `benefit_tp` / `cost_fp` and are kept
    apart only so that the ROI (profit divided by campaign spend) can be reported.
    """

    benefit_tp: FloatOrArray
    cost_fp: FloatOrArray
    cost_fn: FloatOrArray = 0.0
    benefit_tn: FloatOrArray = 0.0
    spend_tp: FloatOrArray = 0.0
    spend_fp: FloatOrArray = 0.0
    contact: float | None = None
    churn: ChurnTerms | None = None
    derivation: str = ""

    @property
    def gain(self) -> FloatOrArray:
        """Incremental value of acting on a positive row over leaving it alone."""
        return self.benefit_tp + self.cost_fn

    @property
    def loss(self) -> FloatOrArray:
        """Incremental cost of acting on a negative row over leaving it alone."""
        return self.cost_fp + self.benefit_tn

    @property
    def n_rows(self) -> int | None:
        """Length of the per-row entries, or None when every entry is a scalar."""
        for value in self._entries():
            if isinstance(value, np.ndarray):
                return len(value)
        return None

    @property
    def is_scalar(self) -> bool:
        return self.n_rows is None

    def _entries(self) -> tuple[FloatOrArray, ...]:
        return (self.benefit_tp, self.cost_fp, self.cost_fn, self.benefit_tn, self.spend_tp, self.spend_fp)

    def take(self, index: np.ndarray) -> Payoff:
        """The payoff of a subset of rows (a fold, a bootstrap sample); scalars stay scalars."""
        def pick(v: FloatOrArray) -> FloatOrArray:
            return v[index] if isinstance(v, np.ndarray) else v

        return replace(self, benefit_tp=pick(self.benefit_tp), cost_fp=pick(self.cost_fp), cost_fn=pick(self.cost_fn),
                       benefit_tn=pick(self.benefit_tn), spend_tp=pick(self.spend_tp), spend_fp=pick(self.spend_fp))

    def mean(self) -> Payoff:
        """The same payoff with every per-row entry replaced by its mean (for EMP and summaries)."""
        def avg(v: FloatOrArray) -> float:
            return float(np.mean(v)) if isinstance(v, np.ndarray) else float(v)

        return replace(self, benefit_tp=avg(self.benefit_tp), cost_fp=avg(self.cost_fp), cost_fn=avg(self.cost_fn),
                       benefit_tn=avg(self.benefit_tn), spend_tp=avg(self.spend_tp), spend_fp=avg(self.spend_fp))

    def check_rows(self, n: int) -> None:
        """Raise when per-row entries do not have one value per scored row."""
        if self.n_rows is not None and self.n_rows != n:
            raise KpimlError("The per-row values do not line up with the scored rows",
                             expected=f"{n} values (one per row)", got=f"{self.n_rows}",
                             fix="pass the value column of exactly the rows that were scored")


def _as_values(values: np.ndarray | None, column: str | None) -> np.ndarray | None:
    """Validate a value column: finite floats, one per row."""
    if values is None:
        return None
    arr = np.asarray(values, dtype=float).reshape(-1)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise KpimlError(f"Value column '{column or 'values'}' has {int(bad.sum())} missing or infinite values",
                         expected="a finite amount on every row", got=f"{int(bad.sum())} of {len(arr)} rows",
                         fix="impute or drop those rows before training, or remove kpi.economics.value_column")
    return arr


def _need(value: float | None, name: str, template: str, meaning: str) -> float:
    if value is None:
        raise KpimlError(f"The {template} template needs kpi.economics.{name} ({meaning})",
                         got=f"{name} is not set", fix=f"set kpi.economics.{name} in kpiml.yaml (or the matching flag)")
    return float(value)


def _acceptance(e: Economics) -> tuple[float | None, float | None, float | None, str]:
    """The acceptance rate gamma: fixed, Beta(alpha, beta), or the paper's Beta(6, 14) by default."""
    half_beta = (e.acceptance_alpha is None) != (e.acceptance_beta is None)
    if half_beta:
        raise KpimlError("A Beta acceptance rate needs both kpi.economics.acceptance_alpha and acceptance_beta",
                         got=f"alpha={e.acceptance_alpha}, beta={e.acceptance_beta}", fix="set both, e.g. 6 and 14 (mean 0.3)")
    if e.acceptance is not None and e.acceptance_alpha is not None:
        raise KpimlError("kpi.economics sets both a fixed acceptance rate and a Beta distribution of it",
                         expected="either acceptance or acceptance_alpha/acceptance_beta",
                         got=f"acceptance={e.acceptance}, Beta({e.acceptance_alpha}, {e.acceptance_beta})",
                         fix="keep the Beta distribution for EMP, or the fixed rate for a deterministic profit")
    if e.acceptance is not None:
        if not 0 <= e.acceptance <= 1:
            raise KpimlError("The acceptance rate is a share of contacted churners", expected="a number in [0, 1]",
                             got=str(e.acceptance), fix="set kpi.economics.acceptance between 0 and 1, e.g. 0.3")
        return e.acceptance, None, None, f"acceptance {e.acceptance:g}"
    if e.acceptance_alpha is not None and e.acceptance_beta is not None:
        if e.acceptance_alpha <= 0 or e.acceptance_beta <= 0:
            raise KpimlError("Beta acceptance parameters must be positive",
                             got=f"Beta({e.acceptance_alpha}, {e.acceptance_beta})", fix="use e.g. 6 and 14")
        a, b = e.acceptance_alpha, e.acceptance_beta
        return None, a, b, f"acceptance ~ Beta({a:g}, {b:g}) (mean {a / (a + b):.3g})"
    a, b = DEFAULT_ACCEPTANCE_BETA
    return None, a, b, "acceptance ~ Beta(6, 14) (mean 0.3; Verbraken et al.'s default, none was given)"


def _nonnegative(value: float, name: str) -> float:
    if value < 0:
        raise KpimlError(f"kpi.economics.{name} is a cost or an amount and cannot be negative",
                         expected=">= 0", got=f"{value:g}", fix=f"set kpi.economics.{name} to a non-negative amount")
    return value


def _churn(e: Economics, values: np.ndarray | None) -> Payoff:
    """Churn retention (Verbraken, Verbeke and Baesens 2013, notation of the paper).

    A would-be churner who is contacted accepts the incentive with probability gamma and stays,
    keeping CLV minus the incentive d; every contact costs f; a non-churner who is contacted
    takes the incentive (costs d + f). With delta = d / CLV and phi = f / CLV:

        benefit_tp = CLV * (gamma * (1 - delta) - phi) = gamma * (CLV - d) - f
        cost_fp    = CLV * (delta + phi)               = d + f
        cost_fn    = benefit_tn = 0   (profit is measured against doing nothing)

    gamma is the fixed acceptance or the mean alpha / (alpha + beta) of its Beta distribution;
    EMP (`kpiml.kpi.emp`) integrates over the distribution instead. With a value column CLV is
    per row (CLV_i) and so is benefit_tp.
    """
    clv = values if values is not None else _need(e.clv, "clv", "churn", "customer lifetime value")
    d = _nonnegative(_need(e.incentive, "incentive", "churn", "incentive cost per accepted offer"), "incentive")
    f = _nonnegative(_need(e.contact, "contact", "churn", "cost per contact"), "contact")
    gamma, alpha, beta, said = _acceptance(e)
    mean_clv = float(np.mean(clv))
    if values is None and mean_clv <= d:
        raise KpimlError("The incentive is at least the customer lifetime value, so retaining a churner never pays",
                         expected="clv > incentive", got=f"clv={mean_clv:g}, incentive={d:g}", fix="check kpi.economics.clv and incentive")
    terms = ChurnTerms(clv=mean_clv, incentive=d, contact=f, acceptance=gamma, alpha=alpha, beta=beta)
    g = terms.acceptance_mean
    text = (f"churn template: benefit_tp = gamma·(CLV − d) − f = {g:.3g}·({_show(clv)} − {d:g}) − {f:g}"
            f" = {_show(g * (clv - d) - f)}; cost_fp = d + f = {d + f:g}; {said}")
    return Payoff(benefit_tp=g * (clv - d) - f, cost_fp=d + f, spend_tp=f + g * d, spend_fp=f + d, contact=f, churn=terms, derivation=text)


def _conversion(e: Economics, values: np.ndarray | None) -> Payoff:
    """Conversion campaign: a contacted buyer brings the margin m, every contact costs f.

        benefit_tp = m - f,  cost_fp = f,  cost_fn = benefit_tn = 0

    With a value column the margin is per row (m_i), e.g. the expected order margin.
    """
    m = values if values is not None else _need(e.margin, "margin", "conversion", "margin per conversion")
    f = _nonnegative(_need(e.contact, "contact", "conversion", "cost per contact"), "contact")
    if values is None and float(m) <= f:
        raise KpimlError("The margin per conversion does not cover the contact cost, so no contact ever pays",
                         expected="margin > contact", got=f"margin={float(m):g}, contact={f:g}", fix="check kpi.economics.margin and contact")
    text = f"conversion template: benefit_tp = m − f = {_show(m)} − {f:g} = {_show(m - f)}; cost_fp = f = {f:g}"
    return Payoff(benefit_tp=m - f, cost_fp=f, spend_tp=f, spend_fp=f, contact=f, derivation=text)


def _credit(e: Economics, values: np.ndarray | None) -> Payoff:
    """Credit risk: the positive class is a default and acting means declining the loan.

    Declining a defaulter avoids the loss lambda * A (loss given default times exposure);
    declining a good loan forgoes its margin r * A. The exposure A is the value column (loan
    amount) or 1, i.e. amounts per unit lent as in Verbraken et al.'s EMP for credit scoring:

        benefit_tp = lambda * A,  cost_fp = r * A,  cost_fn = benefit_tn = 0
    """
    lgd = _nonnegative(_need(e.loss_given_default, "loss_given_default", "credit", "share of the exposure lost on a default"), "loss_given_default")
    r = _nonnegative(_need(e.margin, "margin", "credit", "margin on a good loan, as a share of the exposure"), "margin")
    exposure: FloatOrArray = values if values is not None else 1.0
    if lgd == 0:
        raise KpimlError("With a loss given default of 0 declining a loan never pays", expected="loss_given_default > 0",
                         got="0", fix="set kpi.economics.loss_given_default, e.g. 0.45")
    text = f"credit template: benefit_tp = λ·A = {lgd:g}·{_show(exposure)}; cost_fp = r·A = {r:g}·{_show(exposure)}"
    return Payoff(benefit_tp=lgd * exposure, cost_fp=r * exposure, spend_fp=r * exposure, derivation=text)


def _custom(e: Economics, values: np.ndarray | None) -> Payoff:
    """A payoff matrix given directly; a value column gives each row its own benefit_tp.

    The spend of an action is the contact cost when given, else cost_fp (the cost of acting on
    a row that did not need it is the cost of the action itself).
    """
    if values is not None and e.benefit_tp != 0:
        raise KpimlError("kpi.economics sets both benefit_tp and a value_column for it",
                         expected="one of them", got=f"benefit_tp={e.benefit_tp:g}, value_column={e.value_column}",
                         fix="drop benefit_tp to use the per-row values, or drop value_column")
    b_tp: FloatOrArray = values if values is not None else e.benefit_tp
    if all(v == 0 for v in (e.benefit_tp, e.cost_fp, e.cost_fn, e.benefit_tn)) and values is None:
        raise KpimlError("The KPI has no economics", expected="a payoff (benefit_tp, cost_fp, ...) or a template",
                         got="all payoff entries are 0", fix="pass --benefit-tp and --cost-fp, or a template with its terms")
    if values is None and e.benefit_tp + e.cost_fn <= 0:
        raise KpimlError("Acting on a true positive is worth nothing, so no action ever pays",
                         expected="benefit_tp + cost_fn > 0", got=f"benefit_tp={e.benefit_tp:g}, cost_fn={e.cost_fn:g}",
                         fix="set --benefit-tp to the net value of acting on a true positive")
    spend = e.contact if e.contact is not None else e.cost_fp
    text = (f"payoff matrix: benefit_tp = {_show(b_tp)}, cost_fp = {e.cost_fp:g}, cost_fn = {e.cost_fn:g}, "
            f"benefit_tn = {e.benefit_tn:g}")
    return Payoff(benefit_tp=b_tp, cost_fp=e.cost_fp, cost_fn=e.cost_fn, benefit_tn=e.benefit_tn,
                  spend_tp=spend, spend_fp=spend, contact=e.contact, derivation=text)


def _show(v: FloatOrArray) -> str:
    if isinstance(v, np.ndarray):
        return f"per row (mean {float(np.mean(v)):.4g})"
    return f"{float(v):g}"


_TEMPLATES = {"churn": _churn, "conversion": _conversion, "credit": _credit}


def _check_matrix_agrees(e: Economics, payoff: Payoff, template: str) -> None:
    """A template fills the whole matrix; explicit entries must be 0 or equal to what it derives."""
    derived = payoff.mean()
    for name in ("benefit_tp", "cost_fp", "cost_fn", "benefit_tn"):
        given, implied = float(getattr(e, name)), float(getattr(derived, name))
        if given != 0 and not math.isclose(given, implied, rel_tol=1e-6, abs_tol=1e-9):
            raise KpimlError(f"kpi.economics.{name} disagrees with what the {template} template derives from its terms",
                             expected=f"0 or {implied:g}", got=f"{given:g}",
                             fix=f"set {name} to 0 to let the template fill it, or use template 'custom'")


def payoff_from_kpi(kpi: KpiBlock, values: np.ndarray | None = None) -> Payoff:
    """Translate the spec's KPI block (and the value column's values, if any) into a `Payoff`.

    `values` must be given exactly when `kpi.economics.value_column` is set: the caller reads
    the column, this function only does arithmetic.
    """
    e = kpi.economics
    if (values is None) != (e.value_column is None):
        raise KpimlError("The value column and its values must come together",
                         expected="values for kpi.economics.value_column, or neither",
                         got=f"value_column={e.value_column!r}, values {'given' if values is not None else 'missing'}",
                         fix="pass the column's values (or remove value_column from kpi.economics)")
    arr = _as_values(values, e.value_column)
    build = _TEMPLATES.get(kpi.template, _custom)
    payoff = build(e, arr)
    if kpi.template in _TEMPLATES:
        _check_matrix_agrees(e, payoff, kpi.template)
    return payoff


def has_economics(kpi: KpiBlock) -> bool:
    """Whether the block carries enough to value decisions (else models are ranked by AUC)."""
    try:
        payoff_from_kpi(kpi, np.ones(1) if kpi.economics.value_column else None)
    except KpimlError:
        return False
    return True


def max_rows(capacity: Capacity, n: int, contact: float | None = None) -> int | None:
    """The most rows that may be acted on among `n`: a hard limit, rounded down, never above n.

    A share is a fraction of the rows scored together (a batch, the OOF set); a budget buys
    budget / contact contacts. None means no limit.
    """
    if capacity.share is not None:
        return min(n, math.floor(capacity.share * n + _REL_TOL))
    if capacity.count is not None:
        return min(n, int(capacity.count))
    if capacity.budget is not None:
        if contact is None or contact <= 0:
            raise KpimlError("A capacity budget needs a cost per contact to turn money into a number of contacts",
                             expected="kpi.economics.contact > 0", got=f"contact={contact}",
                             fix="set kpi.economics.contact (or --contact-cost), or give the capacity as a share or count")
        return min(n, math.floor(capacity.budget / contact + _REL_TOL))
    return None


def capacity_text(capacity: Capacity, contact: float | None = None) -> str:
    """The capacity in words, for reasons and reports."""
    if capacity.share is not None:
        return f"at most {capacity.share:.4g} of the rows"
    if capacity.count is not None:
        return f"at most {capacity.count} rows"
    if capacity.budget is not None:
        return f"a budget of {capacity.budget:g} at {contact:g} per contact" if contact else f"a budget of {capacity.budget:g}"
    return "no capacity limit"

