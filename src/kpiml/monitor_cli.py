"""I/O edge of `kpiml monitor`: read the bundle, new rows, decisions and outcomes; judge; write.

The statistics live in `kpiml.monitoring` (pure functions); this module reads files, scores
the new rows with the model for prediction drift, assembles the outcome sections, writes
monitor.html and monitor.json atomically and turns the verdict into the exit code (1 on
retrain, so cron or CI can act; 0 on ok or watch; 2 on a user mistake, by the CLI).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kpiml.errors import KpimlError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from kpiml.monitoring import ImpactResult, LiveQuality, MonitorResult, Reference

LEVEL_STYLE = {"ok": "green", "watch": "yellow", "retrain": "bold red"}
SCORE_SAMPLE = 50_000


def read_rows(location: str, what: str) -> pd.DataFrame:
    """A table cleaned the way training and `kpiml predict` clean theirs (so kinds match)."""
    from kpiml.data.clean import clean_frame
    from kpiml.data.readers import read_table

    if "://" not in location and not Path(location).exists():
        raise KpimlError(f"The {what} file '{location}' does not exist", expected=f"a CSV, Parquet or database file with the {what}",
                         fix="check the path (relative paths start from the current folder)")
    return clean_frame(read_table(location))[0]


def read_decisions(location: Path) -> pd.DataFrame:
    """A `kpiml serve` decision-log folder or a `kpiml predict` output file."""
    if location.is_dir():
        from kpiml.serving.decision_log import read_decision_log

        return read_decision_log(location)
    return read_rows(str(location), "decision log")


def model_scores(bundle: Any, frame: pd.DataFrame, sample: int | None = SCORE_SAMPLE) -> tuple[np.ndarray | None, str | None]:
    """The positive-class probability of the new rows (a random `sample` of them on large
    files), or None with the reason (a frame that breaks the contract cannot be scored; the
    quality section says what broke).

    Scoring is most of the cost on large files (a blend of fold models over a million rows),
    while prediction drift needs only the score distribution: on 50,000 rows its KS
    distance is known to about 1/sqrt(50,000) = 0.005, fifteen times below the 0.075 watch
    distance (100,000 rows would double the scoring time)."""
    from kpiml.predicting import check_frame

    if bundle.model.problem != "binary":
        return None, None
    rows = frame if sample is None or len(frame) <= sample else frame.sample(sample, random_state=0)
    try:  # only the rows to be scored: checking all of a million rows cost more than scoring the sample
        check_frame(rows, bundle.contract)
    except KpimlError as exc:
        return None, f"prediction drift not measured, the rows cannot be scored: {exc.what}"
    note = None if rows is frame else f"prediction drift measured on a random {len(rows):,} of the {len(frame):,} rows"
    return bundle.model.predict_matrix(rows)[:, 1], note


def load_reference(bundle: Any, reference_data: str | None) -> tuple[Reference, list[str]]:
    """The bundle's reference; for an older bundle, one rebuilt from `--reference-data`."""
    from kpiml.monitoring.bundle import missing_reference_error, read_reference, training_reference

    stored = read_reference(bundle.path)
    if stored is not None:
        return stored, []
    if reference_data is None:
        raise missing_reference_error(bundle.path)
    frame = read_rows(reference_data, "reference data")
    scores, why = model_scores(bundle, frame, None)
    ref = training_reference(frame, bundle.contract, scores, bundle.metadata.get("metrics", {}).get("holdout", {}))
    notes = [f"reference rebuilt from {reference_data} ({len(frame):,} rows); the score reference is the model's in-sample scores, "
             "more extreme than on new rows, so prediction drift is only a hint"]
    return ref, notes + ([why] if why else [])


def spec_of(bundle: Any) -> Any:
    """The spec the model was trained with (kpiml.spec.Spec)."""
    from kpiml.spec import Spec

    return Spec.model_validate(bundle.metadata["spec"])


def identifier(bundle: Any, purpose: str) -> str:
    ids = bundle.contract.get("identifiers") or []
    if not ids:
        raise KpimlError(f"{purpose} needs an identifier column to join on, and this model's contract has none",
                         expected="a column with use: identifier in kpiml.yaml", fix="mark the customer id column as an identifier and retrain")
    return str(ids[0])


def campaign_terms(spec: Any, outcome_value: float | None, treatment_cost: float | None) -> tuple[float | None, float]:
    """Value of one positive outcome and cost of treating one row, for the realised profit:
    the flags when given, else from the KPI template (churn: -CLV and contact + incentive;
    conversion: +margin and contact); None when neither says (no money figures then)."""
    e, template = spec.kpi.economics, spec.kpi.template
    value, cost = outcome_value, treatment_cost
    if template == "churn" and e.clv is not None:
        value = -e.clv if value is None else value
        cost = (e.contact or 0.0) + (e.incentive or 0.0) if cost is None else cost
    elif template == "conversion" and e.margin is not None:
        value = e.margin if value is None else value
        cost = (e.contact or 0.0) if cost is None else cost
    return value, cost or 0.0


def outcome_labels(values: pd.Series, positive: Any) -> np.ndarray:
    """Outcomes as 0/1: the spec's positive label, or 0/1 / true/false when the file has those."""
    from kpiml.monitoring.live import binary_outcome

    text = values.astype("string")
    if positive is not None and (text == str(positive)).any():
        return binary_outcome(values, positive)
    return binary_outcome(values)


def outcomes_section(bundle: Any, reference: Reference, decisions: pd.DataFrame, outcomes: pd.DataFrame, column: str | None,
                     terms: tuple[float | None, float]) -> tuple[LiveQuality, ImpactResult | None, list[str]]:
    """Live quality and KPI impact of the decisions whose outcome arrived."""
    from kpiml.monitoring.live import join_outcomes
    from kpiml.monitoring.run import outcome_sections

    id_col = identifier(bundle, "--outcomes")
    spec = spec_of(bundle)
    outcome_col = column or spec.target.column
    joined = join_outcomes(decisions, outcomes, id_col, outcome_col)
    name = outcome_col if outcome_col in joined.columns and outcome_col not in decisions.columns else f"{outcome_col}_outcome"
    y = outcome_labels(joined[name], spec.target.positive)
    control = joined["control"].to_numpy(dtype=bool)
    live, impact = outcome_sections(y, joined["score"].to_numpy(dtype="float64"), act=joined["act"].to_numpy(dtype=bool), control=control,
                                    expected_value=joined["expected_value"].to_numpy(dtype="float64"), reference_auc=reference.metrics.get("roc_auc"),
                                    outcome_value=terms[0], treatment_cost=terms[1])
    notes = [f"{len(joined):,} of {len(decisions):,} decisions have an outcome"]
    if not control.any():
        notes.append("no control rows among the decisions: KPI impact needs `kpiml predict --holdout 0.1` (or serve with it)")
    return live, impact, notes


def decisions_now(bundle: Any, frame: pd.DataFrame, id_col: str) -> pd.DataFrame:
    """Without a decision log: the model's decisions on the new rows, made now (no control)."""
    from kpiml.predicting import decision_rule, score_frame

    scored = score_frame(bundle.model, frame, [id_col], decision_rule(bundle))
    return scored.assign(control=0)


def run_monitor(model: Path, data: str, *, log: Path | None, outcomes: str | None, outcome_column: str | None, reference_data: str | None,
                outcome_value: float | None = None, treatment_cost: float | None = None) -> MonitorResult:
    """Everything `kpiml monitor` computes, without printing or writing."""
    from kpiml.artifact import load_bundle
    from kpiml.monitoring import Thresholds, contract_from_bundle, monitor
    from kpiml.monitoring.decisions import decisions_frame

    bundle = load_bundle(model)
    spec = spec_of(bundle)
    reference, notes = load_reference(bundle, reference_data)
    frame = read_rows(data, "new data")
    scores, why = model_scores(bundle, frame) if reference.score is not None else (None, None)
    notes += [why] if why else []
    live = impact = None
    if log is not None and not log.exists():
        raise KpimlError(f"The decision log '{log}' does not exist", expected="a `kpiml predict` output file or a `kpiml serve` decision-log folder", fix="check the path given to --log")
    if log is not None and outcomes is None:
        notes.append("--log is read with --outcomes: the decisions are judged once their outcomes are known")
    if outcomes is not None:
        if bundle.model.problem != "binary":
            raise KpimlError(f"--outcomes applies to binary models; this one is {bundle.model.problem}", fix="drop --outcomes")
        id_col = identifier(bundle, "--outcomes")
        raw = read_decisions(log) if log is not None else decisions_now(bundle, frame, id_col)
        decisions, dropped = decisions_frame(raw, id_col, str(log or data))
        notes += [f"{dropped:,} earlier decision(s) for identifiers scored again were replaced by the latest"] if dropped else []
        live, impact, found = outcomes_section(bundle, reference, decisions, read_rows(outcomes, "outcomes"), outcome_column,
                                               campaign_terms(spec, outcome_value, treatment_cost))
        notes += found
    result = monitor(reference, frame, scores=scores, contract=contract_from_bundle(bundle.contract, reference),
                     thresholds=Thresholds.from_spec(spec.monitoring), live=live, impact=impact, direction=spec.kpi.direction,
                     model=str(model), source=str(data))
    verdict = result.verdict.model_copy(update={"notes": [*result.verdict.notes, *notes]})
    return result.model_copy(update={"verdict": verdict})


def print_verdict(result: MonitorResult, paths: tuple[Path, Path], limit: int = 12) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    v = result.verdict
    console.print(f"Verdict: [{LEVEL_STYLE[v.level]}]{v.level}[/] ({result.rows:,} rows, {len(v.reasons)} reason(s))")
    for reason in v.reasons[:limit]:
        console.print(f"  [{LEVEL_STYLE[reason.level]}]{reason.level:<7}[/] {reason.message}")
    if len(v.reasons) > limit:
        console.print(f"  ... and {len(v.reasons) - limit} more in {paths[1]}")
    for note in v.notes:
        console.print(f"  [dim]note:[/dim] {note}")
    console.print(f"Report: [bold]{paths[0]}[/bold]  data: {paths[1]}")


def monitor_command(
    model: Annotated[Path, typer.Argument(help="Model bundle folder written by `kpiml train` (DIR/model).", show_default=False)],
    data: Annotated[str, typer.Argument(help="New rows to check: CSV, Parquet or database file with the model's input columns.", show_default=False)],
    log: Annotated[Path | None, typer.Option(help="Decisions made on those rows: `kpiml predict --out` file or `kpiml serve --decision-log` folder (score, decision, control).")] = None,
    outcomes: Annotated[str | None, typer.Option(help="Outcomes that arrived since: a file with the identifier and the target column, joined on the identifier.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for monitor.html and monitor.json (default: monitor/ beside the model folder).")] = None,
    outcome_column: Annotated[str | None, typer.Option(help="Outcome column in --outcomes (default: the model's target column).")] = None,
    reference_data: Annotated[str | None, typer.Option(help="Training data, only for bundles without a stored reference (trained by an older kpiml).")] = None,
    outcome_value: Annotated[float | None, typer.Option(help="Money of one positive outcome for the realised profit (default: -CLV for churn, +margin for conversion).")] = None,
    treatment_cost: Annotated[float | None, typer.Option(help="Cost of acting on one row (default: contact + incentive for churn, contact for conversion).")] = None,
) -> None:
    """Check new data, decisions and outcomes against the model's training reference; verdict ok / watch / retrain.

    Data quality against the input contract (schema, new categories, missing values, ranges),
    feature drift per column (PSI, KS / chi-square, corrected for testing many columns) and
    prediction drift; with --outcomes, live AUC and calibration, and with a control group
    (`kpiml predict --holdout 0.1`) the KPI impact of acting, treated versus control, with a
    95 % interval. Writes monitor.html and monitor.json; exit code 1 when the verdict is
    retrain, 0 for ok and watch, 2 for a mistake in the input.
    """
    from kpiml.monitoring.report import write_report

    result = run_monitor(model, data, log=log, outcomes=outcomes, outcome_column=outcome_column, reference_data=reference_data,
                         outcome_value=outcome_value, treatment_cost=treatment_cost)
    paths = write_report(result, out or Path(model).resolve().parent / "monitor")
    print_verdict(result, paths)
    if result.exit_code:  # SystemExit, not typer.Exit: the CLI runs Typer with standalone_mode=False, which swallows Exit codes
        raise SystemExit(result.exit_code)
