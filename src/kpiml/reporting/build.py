"""Assemble report.html from a bundle: compute each section, draw its charts, render the template.

Reads only the bundle (metadata, operating point, out-of-fold rows, stored hold-out and
leaderboard), or new labelled data when given, so `kpiml train` and `kpiml report MODEL`
produce the same page from the same bundle.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kpiml.errors import KpimlError
from kpiml.reporting import binary, context, explain, multiclass, regression, segments
from kpiml.reporting.evidence import Evidence, new_evidence, read_leaderboard, stored_evidence
from kpiml.reporting.page import render, svg
from kpiml.spec import Spec

N_BOOT = 200  # resamples for the report's intervals: two decimals of a percentile are enough here
DEPENDENCE_FEATURES = 3
MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class ReportPage:
    html: str
    seconds: float
    figures: int


def _evidence(bundle: Any, spec: Spec, data: str | None, table: str | None, query: str | None) -> Evidence:
    if data is not None:
        return new_evidence(bundle, spec, data, table, query)
    stored = stored_evidence(bundle.path, bundle.model.problem)
    if stored is None:
        raise KpimlError(f"Bundle {bundle.path} stores no hold-out rows to report on",
                         expected="a bundle trained by this version of kpiml, or labelled data",
                         fix=f"pass labelled rows: kpiml report {bundle.path} --data TEST.csv")
    return stored


def _model_work(bundle: Any, ev: Evidence) -> tuple[Any, str, list[str], list[Any]]:
    """The report's model calls: importance (TreeSHAP on a sample) and partial dependence of the top features."""
    ranked, how = explain.importance(bundle.model, ev.frame, ev.y)
    top = [str(f) for f in ranked.index[:DEPENDENCE_FEATURES] if f in ev.frame.columns]
    return ranked, how, top, explain.dependence(bundle.model, ev.frame, top) if top else []


def _explain(spec: Spec, ev: Evidence, problem: str, work: tuple[Any, str, list[str], list[Any]]) -> dict[str, Any]:
    """Importance, dependence of the score on the top features, and the segment columns they imply."""
    ranked, how, top, curves = work
    ylabel = {"binary": "mean predicted probability", "regression": f"mean predicted {spec.target.column}"}.get(problem, "mean top-class probability")
    categorical = [c.name for c in spec.feature_columns() if c.role in ("categorical", "boolean")]
    return {"importance": svg(explain.importance_svg(ranked, how)), "how": how,
            "table": [{"feature": str(k), "value": float(v)} for k, v in ranked.head(explain.TOP).items()],
            "dependence": [svg(d) for d in explain.dependence_svgs(ev.frame, top, curves, ylabel)],
            "segment_columns": segments.segment_columns(ev.frame, categorical, [str(i) for i in ranked.index])}


def _binary(bundle: Any, ev: Evidence, cols: list[str], new_data: bool) -> dict[str, Any]:
    from kpiml.artifact import read_operating_point

    point = read_operating_point(bundle.path)
    economics = bool((bundle.metadata.get("operating_point") or {}).get("economics")) and point is not None
    act = binary.decisions(ev, point)
    profit = binary.row_profit(ev, point, act) if economics else None
    labels = [str(c) for c in bundle.model.classes]
    return {"point": point, "economics": economics, "share": float(act.mean()), "acted": int(act.sum()),
            "kpi_figures": binary.kpi_figures(ev, point, economics, N_BOOT, None if new_data else _stored_holdout(bundle, ev)), "metrics": binary.metrics(ev, act, N_BOOT),
            "curves": [{**c, "svg": svg(c["svg"])} for c in binary.curves(ev, point, act, economics)],
            "confusion": svg(binary.confusion(ev, act, labels)["svg"]), "profit": None if profit is None else float(profit.sum()),
            "segments": [{"column": c, "rows": segments.binary_segments(ev.frame, c, ev.y, ev.score, act, profit)} for c in cols]}


def _stored_holdout(bundle: Any, ev: Evidence) -> dict[str, float] | None:
    """The hold-out figures of metrics.json, when the evidence holds every hold-out row (not a sample of them)."""
    metrics = bundle.metadata.get("metrics") or {}
    return metrics.get("holdout") if (metrics.get("rows") or {}).get("holdout") == len(ev.y) else None


def _regression(bundle: Any, spec: Spec, ev: Evidence, cols: list[str]) -> dict[str, Any]:
    from kpiml.reporting.stats import metric_table

    captured, captured_svg = regression.value_captured(ev)
    y = np.asarray(ev.y, dtype=float)
    return {"metrics": metric_table("regression", y, ev.pred, N_BOOT),
            "curves": [{**c, "svg": svg(c["svg"])} for c in regression.residual_plots(ev, spec.target.column)],
            "captured": captured, "captured_svg": svg(captured_svg), "rule": (bundle.metadata.get("operating_point") or {}).get("reason", ""),
            "segments": [{"column": c, "rows": segments.regression_segments(ev.frame, c, y, ev.pred)} for c in cols]}


def _multiclass(bundle: Any, ev: Evidence, cols: list[str]) -> dict[str, Any]:
    from kpiml.reporting.stats import metric_table

    classes = [str(c) for c in bundle.model.classes]
    return {"metrics": metric_table("multiclass", ev.y, ev.pred, N_BOOT), "per_class": multiclass.per_class(ev, classes), "curves": [],
            "confusion": svg(multiclass.confusion_svg(ev, classes)),
            "segments": [{"column": c, "rows": segments.multiclass_segments(ev.frame, c, ev.y, ev.pred)} for c in cols]}


def _bundle(model_dir: Path, model: Any) -> Any:
    """The bundle, loaded and verified; or, at the end of training (`model` given: the model just
    saved there), its metadata and contract with the model already in memory, which spares
    rebuilding every estimator from disk."""
    from kpiml.artifact import Bundle, load_bundle

    if model is None:
        return load_bundle(model_dir)
    read = lambda name: json.loads((model_dir / name).read_text(encoding="utf-8"))  # noqa: E731
    return Bundle(model, read("contract.json"), read("metadata.json"), model_dir)


def build_page(model_dir: Path, data: str | None = None, *, table: str | None = None, query: str | None = None, model: Any = None) -> ReportPage:
    """The report of a bundle as one self-contained HTML page, on its hold-out or on `data`.

    `model`: the `KpimlModel` just saved in `model_dir`, when the caller (training) holds it.
    """
    from kpiml.reporting.manager import campaign_screen

    started = time.monotonic()
    bundle = _bundle(Path(model_dir), model)
    spec = Spec.model_validate(bundle.metadata["spec"])
    ev = _evidence(bundle, spec, data, table, query)
    problem = bundle.model.problem
    board = read_leaderboard(bundle.path)
    rows, spread = context.leaderboard(board)
    explained = _explain(spec, ev, problem, _model_work(bundle, ev))
    cols = explained["segment_columns"]
    section = (_binary(bundle, ev, cols, data is not None) if problem == "binary" else _regression(bundle, spec, ev, cols) if problem == "regression"
               else _multiclass(bundle, ev, cols))
    page = {"spec": spec, "meta": bundle.metadata, "problem": problem, "source": ev.source, "rows": len(ev.y), "new_data": data is not None,
            "campaign": campaign_screen(bundle.path) if problem == "binary" else None, "section": section, "explained": explained,
            "plan": context.plan_recap(spec), "changes": context.changes(bundle.metadata, board), "warnings": context.warnings(spec, ev.notes),
            "leaderboard": rows, "spread": svg(spread) if spread else "", "positive_rate": float(np.mean(ev.y)) if problem == "binary" else None,
            "model_dir": str(bundle.path)}
    html = render("report.html.j2", r=page)
    return ReportPage(html, time.monotonic() - started, html.count("<svg"))


def write_report(model_dir: Path, out: Path, data: str | None = None, *, table: str | None = None, query: str | None = None,
                 model: Any = None) -> ReportPage:
    """Build the page and write it atomically to `out`; refuse a page over 5 MB (it would not open well offline)."""
    from kpiml.atomic import write_text_atomic

    if Path(out).suffix.lower() not in (".html", ".htm"):
        raise KpimlError(f"The report is an HTML page, but '{out}' does not end in .html", expected="a file name ending in .html",
                         got=Path(out).suffix or "no suffix", fix="name it e.g. report.html")
    page = build_page(model_dir, data, table=table, query=query, model=model)
    size = len(page.html.encode("utf-8"))
    if size > MAX_BYTES:
        raise KpimlError(f"The report would be {size / 1e6:.1f} MB, over the 5 MB a self-contained page should weigh",
                         fix="report a smaller sample of rows with --data")
    write_text_atomic(Path(out), page.html)
    return page
