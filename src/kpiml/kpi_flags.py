"""One set of KPI options (`--benefit-tp`, `--clv`, `--capacity`, ...) shared by plan, train and roi.

The options are declared once, as `inspect.Parameter`s with Typer annotations, and added to
a command by the `kpi_options` decorator, which collects them into a `KpiFlags` passed as
the command's `kpi` argument. A flag that is not given stays None, so "not given" and "set
to 0" differ, and `KpiFlags.apply` changes only what the user named.

How flags meet the spec's `kpi` block:

- an explicit payoff matrix (`--benefit-tp`, `--cost-fp`, ...) without `--template` means the
  custom template: the plan's guessed template (e.g. churn from a column named 'churn') must
  not demand terms the user never meant to give;
- business terms without `--template` pick the template they belong to (CLV, incentive or
  acceptance: churn; loss given default: credit; a margin alone: conversion);
- with a template the matrix stays 0 in kpiml.yaml and `payoff_from_kpi` derives it from the
  terms, so the YAML never holds two versions of the same number that could disagree;
- `--capacity 0.2` is a share of the rows scored together, `--capacity 500` a count,
  `--capacity-budget 2000` money divided by the contact cost.

The value column (`--value-column clv`) stays a model feature when the plan made it one: a
customer's value is known when the decision is taken and is often predictive itself. It is
also the per-row value of the payoff. Set its `use` to `exclude` in kpiml.yaml to keep it out
of the features; it is still read as the value source.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from kpiml.errors import KpimlError

if TYPE_CHECKING:  # the spec (pydantic) is imported when a flag is applied, so `kpiml --help` stays fast
    from kpiml.spec import Capacity, KpiBlock, Spec

TemplateFlag = Literal["churn", "conversion", "credit", "custom"]
_MATRIX = ("benefit_tp", "cost_fp", "cost_fn", "benefit_tn")
_TERMS = ("clv", "incentive", "contact", "acceptance", "acceptance_alpha", "acceptance_beta", "margin", "loss_given_default")
_PANEL = "KPI economics"


def _opt(help_text: str, **kw: Any) -> Any:
    return typer.Option(help=help_text, rich_help_panel=_PANEL, show_default=False, **kw)


# name -> (type, option); declared once, added to plan, train and roi by `kpi_options`.
_OPTIONS: dict[str, tuple[Any, Any]] = {
    "benefit_tp": (float | None, _opt("Net value of acting on a true positive (currency).")),
    "cost_fp": (float | None, _opt("Cost of acting on a false positive (currency).")),
    "cost_fn": (float | None, _opt("Cost of not acting on a positive (optional).")),
    "benefit_tn": (float | None, _opt("Value of not acting on a negative (optional).")),
    "value_column": (str | None, _opt("Column whose value is each row's own payoff (e.g. CLV); it stays a feature.")),
    "template": (TemplateFlag | None, _opt("Fill the payoff from business terms: churn, conversion, credit, or custom (the matrix as given).")),
    "clv": (float | None, _opt("Churn: customer lifetime value.")),
    "incentive": (float | None, _opt("Churn: cost of the retention incentive.")),
    "contact": (float | None, _opt("Churn / conversion: cost per contact (also turns --capacity-budget into contacts).")),
    "acceptance": (float | None, _opt("Churn: share of contacted churners who accept (fixed).")),
    "acceptance_alpha": (float | None, _opt("Churn: alpha of a Beta-distributed acceptance rate (EMP).")),
    "acceptance_beta": (float | None, _opt("Churn: beta of a Beta-distributed acceptance rate (EMP).")),
    "margin": (float | None, _opt("Conversion: margin per conversion; credit: margin on a good loan (share of the amount).")),
    "loss_given_default": (float | None, _opt("Credit: share of the exposure lost on a default.")),
    "capacity": (float | None, _opt("Rows that can be acted on: a share (<= 1, e.g. 0.2) or a count (an integer > 1).")),
    "capacity_budget": (float | None, _opt("Campaign budget in currency, divided by --contact into a number of contacts.")),
}


@dataclass(frozen=True)
class KpiFlags:
    """The KPI options as given on the command line (None: not given)."""

    benefit_tp: float | None = None
    cost_fp: float | None = None
    cost_fn: float | None = None
    benefit_tn: float | None = None
    value_column: str | None = None
    template: TemplateFlag | None = None
    clv: float | None = None
    incentive: float | None = None
    contact: float | None = None
    acceptance: float | None = None
    acceptance_alpha: float | None = None
    acceptance_beta: float | None = None
    margin: float | None = None
    loss_given_default: float | None = None
    capacity: float | None = None
    capacity_budget: float | None = None

    def given(self) -> bool:
        """Whether any KPI option was passed at all."""
        return any(getattr(self, f.name) is not None for f in fields(self))

    def economics_changes(self) -> dict[str, Any]:
        """The economics fields the user set, by their spec names."""
        return {k: getattr(self, k) for k in (*_MATRIX, *_TERMS, "value_column") if getattr(self, k) is not None}

    def capacity_block(self, current: Capacity) -> Capacity:
        """The capacity the flags ask for, or the current one when none was given."""
        return parse_capacity(self.capacity, self.capacity_budget) if self.capacity is not None or self.capacity_budget is not None else current

    def apply(self, kpi: KpiBlock) -> KpiBlock:
        """The KPI block with the flags written over it (only what was given changes)."""
        from kpiml.spec import Economics

        if not self.given():
            return kpi
        changes = self.economics_changes()
        template = self.template or _template_for(kpi.template, changes)
        econ = {**kpi.economics.model_dump(), **changes}
        if template != "custom" and template != "none":
            for name in _MATRIX:  # the template derives the matrix; a stale one would disagree
                if name not in changes:
                    econ[name] = 0.0
        try:
            economics = Economics.model_validate(econ)
        except ValueError as exc:
            raise _flag_error(exc) from None
        return kpi.model_copy(update={"template": template, "economics": economics,
                                      "capacity": self.capacity_block(kpi.capacity)})


def _template_for(current: str, changes: dict[str, Any]) -> Any:
    """The template implied by which terms were given (see the module docstring)."""
    if any(k in changes for k in _MATRIX):
        return "custom"
    if any(k in changes for k in ("clv", "incentive", "acceptance", "acceptance_alpha", "acceptance_beta")):
        return "churn"
    if "loss_given_default" in changes:
        return "credit"
    if "margin" in changes and current != "credit":
        return "conversion"
    return current


def _flag_error(exc: Any) -> KpimlError:
    errors: list[dict[str, Any]] = list(getattr(exc, "errors", list)())
    err = errors[0] if errors else {"loc": ("?",), "msg": str(exc), "input": ""}
    name = "--" + str(err["loc"][0]).replace("_", "-") if err.get("loc") else "a KPI option"
    return KpimlError(f"Option {name} is not valid: {err['msg']}", got=str(err.get("input")), fix=f"pass {name} a value in the allowed range")


def parse_capacity(capacity: float | None, budget: float | None) -> Capacity:
    """`--capacity` as a share (<= 1) or a count (integer > 1), or `--capacity-budget` as money."""
    from kpiml.spec import Capacity

    if capacity is not None and budget is not None:
        raise KpimlError("Give the capacity once: --capacity (share or count) or --capacity-budget (money)",
                         got=f"--capacity {capacity:g} and --capacity-budget {budget:g}", fix="drop one of them")
    if budget is not None:
        if not budget > 0:
            raise KpimlError("--capacity-budget must be a positive amount", got=f"{budget:g}", fix="e.g. --capacity-budget 5000")
        return Capacity(budget=budget)
    assert capacity is not None
    if not capacity > 0 or not math.isfinite(capacity):
        raise KpimlError("--capacity must be a share of the rows (0 < c <= 1) or a number of rows (an integer > 1)",
                         got=f"{capacity:g}", fix="e.g. --capacity 0.2 for 20 % of the rows, or --capacity 500")
    if capacity <= 1:
        return Capacity(share=capacity)
    if capacity != int(capacity):
        raise KpimlError("--capacity above 1 is a number of rows and must be whole", expected="a share <= 1 or an integer count",
                         got=f"{capacity:g}", fix=f"use --capacity {math.floor(capacity)} rows, or a share such as 0.2")
    return Capacity(count=int(capacity))


def check_value_column(kpi: KpiBlock, columns: list[str], target: str) -> None:
    """The value column must be a column of the table and not the target itself."""
    name = kpi.economics.value_column
    if name is None:
        return
    if name == target:
        raise KpimlError(f"The value column '{name}' is the target", expected="a column with each row's value, e.g. CLV",
                         fix="pass another column to --value-column")
    if name not in columns:
        from kpiml.errors import closest_names

        hints = closest_names(name, columns)
        raise KpimlError(f"Value column '{name}' is not in the data", expected="one of the table's columns",
                         got=f"did you mean {', '.join(map(repr, hints))}?" if hints else f"{len(columns)} other columns",
                         fix="pass an existing column to --value-column")


def validate_kpi(kpi: KpiBlock, problem: str = "binary") -> None:
    """Raise the value model's KpimlError for a bad combination, before any training starts.

    A block with no economics at all is fine (models are then ranked by AUC); a block with
    some economics must be complete and consistent. A regression KPI takes only a cost of
    acting (`--cost-fp` or `--contact`) and a capacity: the predicted value is the benefit.
    """
    import numpy as np

    from kpiml.kpi import max_rows, payoff_from_kpi

    if problem != "binary":
        _check_non_binary(kpi, problem)
        max_rows(kpi.capacity, 1, kpi.economics.contact)
        return
    if not _has_any_economics(kpi):
        max_rows(kpi.capacity, 1, kpi.economics.contact)  # a budget without a contact cost fails here
        return
    payoff = payoff_from_kpi(kpi, np.ones(1) if kpi.economics.value_column else None)
    max_rows(kpi.capacity, 1, payoff.contact)


def _check_non_binary(kpi: KpiBlock, problem: str) -> None:
    """Multiclass targets take no economics; regression only a cost of acting and a capacity."""
    e = kpi.economics
    allowed = ("cost_fp", "contact") if problem == "regression" else ()
    given = [k for k in (*_MATRIX, *_TERMS) if k not in allowed and getattr(e, k) not in (None, 0.0)]
    given += ["value_column"] if e.value_column else []
    if kpi.template in ("churn", "conversion", "credit") and given:
        given.append(f"template {kpi.template}")
    if given:
        what = "a cost of acting (--cost-fp or --contact) and a capacity" if problem == "regression" else "no economics"
        raise KpimlError(f"A {problem} target takes {what}; the KPI sets {', '.join(given)}",
                         expected="payoff matrices and templates for binary targets only",
                         fix="remove those KPI options (a regression KPI values each row by its prediction)")


def _has_any_economics(kpi: KpiBlock) -> bool:
    e = kpi.economics
    return any(getattr(e, k) not in (None, 0.0) for k in (*_MATRIX, *_TERMS)) or e.value_column is not None


def kpi_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared KPI options to a Typer command; the command receives them as `kpi: KpiFlags`."""
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "kpi"]
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind, option])
             for name, (kind, option) in _OPTIONS.items()]
    params = own + extra

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags = KpiFlags(**{name: kwargs.pop(name, None) for name in _OPTIONS})
        return func(*args, kpi=flags, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # type: ignore[attr-defined]
    return wrapper


def spec_with_flags(spec: Spec, flags: KpiFlags) -> Spec:
    """The spec with the KPI options written over its `kpi` block, validated before any work.

    Without options the spec's own block is still validated (an edited kpiml.yaml can hold a
    combination the value model refuses: better now than after the search), and its primary
    metric and reasons are brought in line with its economics.
    """
    from kpiml.planning.decide import with_kpi

    kpi = _matrix_without_terms(flags.apply(spec.kpi))
    check_value_column(kpi, [c.name for c in spec.columns], spec.target.column)
    validate_kpi(kpi, spec.target.problem)
    return with_kpi(spec, kpi)


def _matrix_without_terms(kpi: KpiBlock) -> KpiBlock:
    """A guessed template with none of its terms but a payoff matrix filled in means the matrix.

    The plan guesses a template from the target's name; a user who then types benefit_tp and
    cost_fp into kpiml.yaml means those numbers, not a churn model missing its CLV.
    """
    e = kpi.economics
    terms = any(getattr(e, k) is not None for k in _TERMS if k != "contact")
    matrix = any(getattr(e, k) not in (None, 0.0) for k in _MATRIX)
    if kpi.template in ("churn", "conversion", "credit") and matrix and not terms:
        return kpi.model_copy(update={"template": "custom"})
    return kpi
