"""Planning: profile + spec -> decisions with reasons -> plan.md.

`build_plan` is the one entry point the CLI and the later stages use: read, clean, check
the target, profile, decide. It returns the cleaned, labelled frame too, so `kpiml train`
without a spec trains on exactly what the plan saw.
"""

from kpiml.planning.build import PlanResult, build_plan, frame_for_spec
from kpiml.planning.decide import build_spec
from kpiml.planning.render import render_plan

__all__ = ["PlanResult", "build_plan", "build_spec", "frame_for_spec", "render_plan"]
