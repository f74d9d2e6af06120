"""Candidate models, what each costs, and which ones a collection can afford.

Statistical models come from Nixtla's statsforecast (one fit per series); the global
LightGBM model is one fit for all series. Costs were measured here on 120-point monthly
series (ms per series and fit, one core) and drive the plan: a collection of 10,000 series
cannot afford AutoARIMA at about 1 s a fit, a collection of 50 can.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kpiml.errors import KpimlError

FLOOR = "SeasonalNaive"
GLOBAL = "LightGBM"
ENSEMBLE = "Ensemble"


@dataclass(frozen=True)
class Candidate:
    """A model kpiml may try: its name, whether it is fitted per series, and its cost."""

    name: str
    per_series: bool
    cost_ms: float  # per series and fit on 120 points, one core; 0 for the global model
    make: Callable[[int], Any] | None = None


def _sf(name: str) -> Callable[[int], Any]:
    """Factory of a statsforecast model by class name (imported only when a model is built)."""

    def make(season_length: int) -> Any:
        import statsforecast.models as sm

        cls = getattr(sm, name)
        if name in ("AutoARIMA",):
            return cls(season_length=season_length, alias=name)
        return cls(season_length=season_length, alias=name)

    return make


REGISTRY: dict[str, Candidate] = {
    FLOOR: Candidate(FLOOR, True, 0.1, _sf("SeasonalNaive")),
    GLOBAL: Candidate(GLOBAL, False, 0.0),
    "AutoTheta": Candidate("AutoTheta", True, 18.0, _sf("AutoTheta")),
    "AutoETS": Candidate("AutoETS", True, 93.0, _sf("AutoETS")),
    "AutoARIMA": Candidate("AutoARIMA", True, 1150.0, _sf("AutoARIMA")),
}


@dataclass(frozen=True)
class ModelPlan:
    """Models to run on every series, and why others were left out."""

    models: tuple[str, ...]
    skipped: dict[str, str]

    @property
    def stat_models(self) -> list[str]:
        return [m for m in self.models if REGISTRY[m].per_series]


def parse_models(requested: list[str] | None) -> list[str] | None:
    """Check user-named models against the registry (None means: let kpiml choose)."""
    if not requested or requested == ["auto"]:
        return None
    names = {n.lower(): n for n in REGISTRY}
    out = []
    for r in requested:
        for part in r.split(","):
            key = part.strip().lower()
            if key not in names:
                raise KpimlError(f"Unknown model '{part.strip()}' in --models", expected=", ".join(REGISTRY), got=part.strip(), fix="pick from the expected names, or leave --models out to let kpiml choose")
            out.append(names[key])
    return list(dict.fromkeys([FLOOR, *out]))


def plan_models(n_series: int, mean_length: float, n_fits: int, n_jobs: int, budget_s: float, requested: list[str] | None = None) -> ModelPlan:
    """Keep per-series models, cheapest first, while their estimated time fits `budget_s`.

    The estimate scales the measured cost by series length and number of fits (backtest
    windows plus the final fit) over the worker count; it depends only on the data's shape,
    so two runs on the same data choose the same models.
    """
    if requested is not None:
        return ModelPlan(tuple(requested), {})
    chosen, skipped, spent = [FLOOR, GLOBAL], {}, 0.0
    extra = sorted((c for c in REGISTRY.values() if c.per_series and c.name != FLOOR), key=lambda c: c.cost_ms)
    for cand in extra:
        cost = n_series * n_fits * cand.cost_ms / 1000 * max(mean_length, 1) / 120 / max(n_jobs, 1)
        if spent + cost <= budget_s:
            chosen.append(cand.name)
            spent += cost
        else:
            skipped[cand.name] = f"estimated {cost:,.0f} s on {n_series:,} series exceeds the {budget_s:,.0f} s budget (--budget)"
    return ModelPlan(tuple(chosen), skipped)
