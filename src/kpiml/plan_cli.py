"""I/O edge of `kpiml plan`: build the plan, write its three files atomically, print a summary."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kpiml.atomic import write_text_atomic
from kpiml.data.profile import Profile
from kpiml.errors import KpimlError
from kpiml.kpi_flags import KpiFlags
from kpiml.planning.decide import economics_view
from kpiml.spec import Spec, load_spec, spec_to_yaml

console = Console(highlight=False)


def run_plan(data: str, *, target: str | None, positive: str | None, out: Path, table: str | None, query: str | None, budget: int | None, kpi: KpiFlags | None = None) -> None:
    from kpiml.kpi_flags import spec_with_flags
    from kpiml.planning import build_plan, render_plan

    with console.status(f"Profiling {data} ..."):
        result = build_plan(data, target=target, positive=positive, table=table, query=query, budget=budget)
        result.spec = spec_with_flags(result.spec, kpi or KpiFlags())
        plan_md = render_plan(result.spec, result.profile)
    # Everything is rendered before anything is written, so a failure leaves no partial output.
    write_text_atomic(out / "profile.json", result.profile.model_dump_json(indent=2))
    write_text_atomic(out / "kpiml.yaml", spec_to_yaml(result.spec))
    write_text_atomic(out / "plan.md", plan_md)
    print_summary(result.spec, result.profile, out)


def _load_profile(path: Path) -> Profile | None:
    if not path.is_file():
        return None
    try:
        return Profile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, OSError):
        console.print(f"[yellow]note:[/yellow] {path} could not be read; the plan is rendered without its evidence.")
        return None


def rerender_plan(spec_path: Path, kpi: KpiFlags | None = None) -> None:
    """Re-render plan.md from an edited spec; KPI options are written into the spec first."""
    from kpiml.kpi_flags import spec_with_flags
    from kpiml.planning import render_plan

    flags = kpi or KpiFlags()
    spec = spec_with_flags(load_spec(spec_path), flags)
    profile = _load_profile(spec_path.parent / "profile.json")
    if profile is not None and profile.target.column != spec.target.column:
        raise KpimlError(f"target.column in {spec_path} is '{spec.target.column}' but profile.json was made for '{profile.target.column}'", fix=f"re-run `kpiml plan DATA --target {spec.target.column}` to profile the new target")
    out = spec_path.parent / "plan.md"
    plan_md = render_plan(spec, profile)
    if spec != load_spec(spec_path):  # KPI options, or economics that changed the primary metric
        write_text_atomic(spec_path, spec_to_yaml(spec))
    write_text_atomic(out, plan_md)
    console.print(f"Re-rendered [bold]{out}[/bold] from {spec_path}" + (" (KPI options written into it)." if flags.given() else "."))


def print_summary(spec: Spec, profile: Profile, out: Path) -> None:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_row("Problem", f"{spec.target.problem} on '{spec.target.column}'" + (f" (positive '{spec.target.positive}')" if spec.target.positive else ""))
    t.add_row("Rows", f"{profile.rows:,} ({profile.target.missing_dropped:,} without target dropped)")
    t.add_row("Features", f"{len(spec.feature_columns())} used, {sum(c.use == 'exclude' for c in spec.columns)} excluded")
    t.add_row("KPI", f"{spec.kpi.name}; primary metric {spec.metrics.primary}")
    view = economics_view(spec)
    if view is not None:
        t.add_row("Economics", view["derivation"] + (f"; {view['capacity']}" if view["capacity"] else ""))
    t.add_row("Validation", f"{spec.split.strategy}, {spec.split.folds} folds, hold-out {spec.split.holdout:.0%}")
    t.add_row("Candidates", ", ".join(c.name for c in spec.models.candidates if c.enabled))
    console.print(t)
    top = [r for r in spec.risks if r.severity == "high"] or spec.risks[:3]
    if top:
        console.print("[bold]Main risks[/bold]")
        for r in top[:5]:
            console.print(f"  [{'red' if r.severity == 'high' else 'yellow'}]{r.severity}[/] {r.title}: {r.detail}")
    console.print(f"Plan: [bold]{out / 'plan.md'}[/bold]  spec: {out / 'kpiml.yaml'}  profile: {out / 'profile.json'}")
