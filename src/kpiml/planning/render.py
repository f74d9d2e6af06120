"""Render plan.md from the spec and the profile with a Jinja2 template (no Markdown glued in Python)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

from kpiml.data.profile import Profile
from kpiml.planning.decide import economics_view, size_tier
from kpiml.planning.requirements import check_needs
from kpiml.spec import Spec


def template_env() -> Environment:
    env = Environment(loader=PackageLoader("kpiml", "templates"), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pct"] = lambda v, d=1: "n/a" if v is None else f"{v:.{d}%}"
    env.filters["num"] = lambda v: "n/a" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:,.4g}")
    return env


def render_plan(spec: Spec, profile: Profile | None) -> str:
    """The plan reads the spec (possibly edited) for decisions and the profile for evidence."""
    labelled = (sum(profile.target.counts.values()) if profile.target.counts else profile.rows - profile.target.missing_dropped) if profile else spec.data.rows
    needs = check_needs(spec.kpi.template, [c.name for c in spec.columns])
    profiles = {c.name: c for c in profile.column_profiles} if profile else {}
    return template_env().get_template("plan.md.j2").render(
        spec=spec, profile=profile, profiles=profiles, labelled=labelled, tier=size_tier(labelled), needs=needs,
        features=spec.feature_columns(), excluded=[c for c in spec.columns if c.use == "exclude"],
        economics=economics_view(spec),
    )
