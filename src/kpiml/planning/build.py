"""Read, clean, check and profile a table, then decide: the whole of `kpiml plan` without I/O of outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kpiml.data.clean import clean_frame
from kpiml.data.profile import Profile, profile_table
from kpiml.data.readers import read_table
from kpiml.data.target import check_target, encode_target
from kpiml.planning.decide import build_spec
from kpiml.planning.snapshot import detect_snapshot, snapshot_leakage, snapshot_target
from kpiml.spec import Spec


@dataclass
class PlanResult:
    spec: Spec
    profile: Profile
    frame: pd.DataFrame  # cleaned, rows with a missing target dropped


def _describe(location: str | Path, table: str | None, query: str | None) -> str:
    if query:
        return f"query on {location}"
    return f"{location} (table {table})" if table else str(location)


def build_plan(location: str | Path, *, target: str | None, positive: str | None = None, table: str | None = None, query: str | None = None, budget: int | None = None) -> PlanResult:
    """Everything `kpiml plan` decides for a table and a target (a snapshot table's default: its label)."""
    raw = read_table(location, table=table, query=query)
    frame, cleaning = clean_frame(raw)
    source = _describe(location, table, query)
    snapshot = detect_snapshot(location, frame, query)
    target = snapshot_target(target, snapshot, frame, source)
    check = check_target(frame, target, positive, source)
    profile = profile_table(frame, check, str(location), cleaning)
    labelled = frame[frame[target].notna()].reset_index(drop=True)
    if snapshot is not None and check.problem == "binary":
        flagged = {s.column for s in profile.leakage}
        profile.leakage += snapshot_leakage(labelled, snapshot, target, encode_target(labelled[target], check), flagged)
    spec = build_spec(profile, str(location), table=table, query=query, budget=budget, snapshot=snapshot, frame=labelled)
    return PlanResult(spec=spec, profile=profile, frame=labelled)


def frame_for_spec(spec: Spec) -> pd.DataFrame:
    """Re-read and clean the spec's source: what `kpiml train --spec` trains on."""
    raw = read_table(spec.data.source, table=spec.data.table, query=spec.data.query)
    frame, _ = clean_frame(raw)
    check_target(frame, spec.target.column, spec.target.positive if spec.target.problem == "binary" else None, spec.data.source)
    return frame[frame[spec.target.column].notna()].reset_index(drop=True)
