"""The report's context sections: the plan recap, what training changed, warnings, the leaderboard."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kpiml.reporting import charts
from kpiml.spec import Spec


def plan_recap(spec: Spec) -> list[tuple[str, str]]:
    """The plan's main decisions as (topic, decision with its reason)."""
    enabled = [c.name for c in spec.models.candidates if c.enabled]
    split = f"{spec.split.strategy}: {spec.split.holdout:.0%} hold-out, {spec.split.folds}-fold cross-validation on the rest"
    rows = [
        ("Target", f"{spec.target.column} ({spec.target.problem}{', positive = ' + str(spec.target.positive) if spec.target.positive else ''}). {spec.target.reason}"),
        ("KPI", f"{spec.kpi.name} ({spec.kpi.template}, {spec.kpi.direction}). {spec.kpi.reason}"),
        ("Metric", f"{spec.metrics.primary}. {spec.metrics.reason}"),
        ("Validation", f"{split}. {spec.split.reason}"),
        ("Candidates", f"{', '.join(enabled)}. {spec.models.search.reason}"),
        ("Budget", f"{spec.models.search.budget_seconds} s of search ({spec.models.search.method})"),
        ("Features", f"{len(spec.feature_columns())} of {len(spec.columns)} columns used"),
    ]
    return [(k, v.strip().rstrip(".") + ".") for k, v in rows]


def changes(metadata: dict[str, Any], board: pd.DataFrame | None) -> list[str]:
    """What training decided on top of the plan: its own notes, then planned models that never ran."""
    out = list(metadata.get("decisions") or [])
    if board is not None and "trials" in board:
        idle = board.loc[(board["candidate"] != "blend") & (board["cv_mean"].isna()), "candidate"].tolist()
        if idle:
            out.append(f"planned but no cross-validation finished within the budget: {', '.join(map(str, idle))}")
    seconds = (metadata.get("metrics") or {}).get("seconds")
    budget = metadata.get("spec", {}).get("models", {}).get("search", {}).get("budget_seconds")
    if seconds is not None and budget:
        out.append(f"training took {seconds:,.0f} s of the {budget} s planned")
    return out


def warnings(spec: Spec, notes: list[str]) -> list[dict[str, str]]:
    """Leakage and data risks from the plan's profile, excluded columns and their reasons, data-check notes."""
    out = [{"level": r.severity, "title": r.title, "detail": r.detail} for r in spec.risks]
    for c in spec.columns:
        if c.use == "exclude" and c.reason:
            out.append({"level": "info", "title": f"column '{c.name}' not used", "detail": c.reason})
    out += [{"level": "info", "title": "data check", "detail": n} for n in notes]
    return out


def leaderboard(board: pd.DataFrame | None) -> tuple[list[dict[str, Any]], str]:
    """Leaderboard rows and the fold-to-fold spread chart (cross-validation mean ± one standard deviation)."""
    if board is None or board.empty:
        return [], ""
    rows = board.replace({np.nan: None}).to_dict("records")
    done = board.dropna(subset=["cv_mean"])
    if done.empty:
        return rows, ""
    metric = str(done["metric"].iloc[0])
    svg = charts.bar_chart(done["candidate"].astype(str).tolist(), done["cv_mean"].to_numpy(float), errors=done["cv_std"].fillna(0).to_numpy(float),
                           xlabel=f"cross-validated {metric} (mean ± fold standard deviation)", title="Fold-to-fold spread")
    return rows, svg
