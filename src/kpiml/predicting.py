"""Batch scoring: check new data against the model's input contract, score it in chunks.

Each row gets its `score`, the `decision` of the bundle's KPI operating point and the
`expected_value` of acting on it (in currency; empty without economics). A capacity is a
limit on the whole file, not on each chunk: when the point has one, scoring takes two
passes (scores to a temporary file, then the global top rows by the ranking score are
acted on while the output is written), so a file never gets more actions than allowed.

The contract is written at training time from the data the model learnt on: each feature's
kind, whether it had missing values, its categories and its range. At scoring time a
missing feature is an error (all of them listed), an extra column is ignored with a note,
an unseen category is scored as "other" (the encoders' infrequent / unknown bucket) with a
note, and a value that cannot be read as the trained type (text in a numeric column, a
non-date in a date column) is refused with the row numbers, because silently turning it
into a missing value would score the row on made-up data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError
from kpiml.features import coerce_column, feature_kinds
from kpiml.spec import Spec

MAX_CATEGORIES = 1000
CONTRACT_VERSION = 1


def _feature_entry(name: str, kind: str, col: pd.Series) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "kind": kind, "dtype": str(col.dtype), "missing_in_training": bool(col.isna().any())}
    values = coerce_column(col, kind)
    if kind in ("numeric", "boolean"):
        finite = values[np.isfinite(values)]
        entry["min"] = float(finite.min()) if len(finite) else None
        entry["max"] = float(finite.max()) if len(finite) else None
    elif kind == "datetime":
        stamps = pd.Series(values).dropna()
        entry["min"] = stamps.min().isoformat() if len(stamps) else None
        entry["max"] = stamps.max().isoformat() if len(stamps) else None
    elif kind == "categorical":
        cats = sorted({str(v) for v in values if isinstance(v, str)})
        entry["categories"] = cats[:MAX_CATEGORIES]
        entry["categories_complete"] = len(cats) <= MAX_CATEGORIES
    return entry


def build_contract(frame: pd.DataFrame, spec: Spec) -> dict[str, Any]:
    """The input contract of a model trained on `frame` as the spec describes it."""
    kinds = feature_kinds(spec.columns)
    return {
        "version": CONTRACT_VERSION,
        "problem": spec.target.problem,
        "target": spec.target.column,
        "features": [_feature_entry(n, k, frame[n]) for n, k in kinds.items()],
        "identifiers": [c.name for c in spec.columns if c.use == "identifier"],
        "other_columns": [c.name for c in spec.columns if c.use in ("time", "group", "exclude")],
        "value_column": spec.kpi.economics.value_column if spec.target.problem == "binary" else None,
    }


@dataclass
class CheckNotes:
    """What scoring noticed but accepted, collected over all chunks for one summary."""

    ignored_columns: list[str] = field(default_factory=list)
    unseen: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)
    new_missing: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = []
        if self.ignored_columns:
            out.append(f"Ignored {len(self.ignored_columns)} column(s) the model does not use: {', '.join(self.ignored_columns[:20])}")
        out += [f"Column '{c}': {n} row(s) with categories unseen in training, scored as an unknown category" for c, n in self.unseen.items()]
        out += [f"Column '{c}': {n} row(s) outside the training range (scored; predictions there are extrapolations)" for c, n in self.out_of_range.items()]
        out += [f"Column '{c}': {n} missing value(s), a column that had none in training (imputed)" for c, n in self.new_missing.items()]
        return out


def _rows_text(positions: np.ndarray, offset: int, values: pd.Series) -> str:
    shown = [f"{offset + int(p) + 1} ({values.iloc[int(p)]!r})" for p in positions[:10]]
    more = f" and {len(positions) - 10} more" if len(positions) > 10 else ""
    return ", ".join(shown) + more


def _check_feature(entry: dict[str, Any], col: pd.Series, offset: int, notes: CheckNotes) -> None:
    name, kind = entry["name"], entry["kind"]
    values = coerce_column(col, kind)
    given = col.notna().to_numpy()
    lost = given & pd.isna(values)
    if lost.any():
        what = {"numeric": "numbers", "boolean": "true/false values", "datetime": "dates"}.get(kind, kind)
        raise KpimlError(f"Column '{name}' holds values that cannot be read as {what}, as in training, at data row(s) {_rows_text(np.flatnonzero(lost), offset, col)}", expected=f"{what} (training dtype {entry['dtype']})", got=f"{int(lost.sum())} unreadable value(s)", fix="correct those values or blank them out to score them as missing")
    missing = int((~given).sum())
    if missing and not entry.get("missing_in_training"):
        notes.new_missing[name] = notes.new_missing.get(name, 0) + missing
    if kind in ("numeric", "boolean") and entry.get("min") is not None:
        outside = int(np.sum((values < entry["min"]) | (values > entry["max"])))
        if outside:
            notes.out_of_range[name] = notes.out_of_range.get(name, 0) + outside
    if kind == "categorical" and entry.get("categories_complete"):
        text = pd.Series(values, copy=False)  # category text: strings or missing
        unseen = int((text.notna() & ~text.isin(entry["categories"])).sum())
        if unseen:
            notes.unseen[name] = notes.unseen.get(name, 0) + unseen


def check_frame(frame: pd.DataFrame, contract: dict[str, Any], offset: int = 0, notes: CheckNotes | None = None) -> CheckNotes:
    """Raise KpimlError on a contract violation; return notes on what was accepted."""
    from kpiml.errors import closest_names

    notes = notes if notes is not None else CheckNotes()
    names = [f["name"] for f in contract["features"]]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        hints = "; ".join(f"'{m}' (did you mean {', '.join(repr(h) for h in closest_names(m, list(map(str, frame.columns))))}?)" if closest_names(m, list(map(str, frame.columns))) else f"'{m}'" for m in missing[:20])
        raise KpimlError(f"The data lacks {len(missing)} column(s) the model needs: {hints}", expected="every feature column the model was trained on", got=f"{len(frame.columns)} columns", fix="add the missing columns (with empty values if unknown) or rename them to the trained names")
    known = set(names) | set(contract.get("identifiers", [])) | {contract.get("target")} | set(contract.get("other_columns", []))
    for extra in (str(c) for c in frame.columns if c not in known):
        if extra not in notes.ignored_columns:
            notes.ignored_columns.append(extra)
    for entry in contract["features"]:
        _check_feature(entry, frame[entry["name"]], offset, notes)
    return notes


@dataclass
class PredictSummary:
    rows: int
    out: Path
    seconds: float
    notes: list[str]


class _Writer:
    """Append chunks to a CSV or Parquet file (header / schema from the first chunk)."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        self._parquet: Any = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == "csv":
            frame.to_csv(self.path, mode="w" if self._first else "a", header=self._first, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(str(self.path), table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        self._first = False

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None


class _ControlWriter(_Writer):
    """Holds out a control group as rows are written (after the final decisions are known).

    Among rows whose decision is 1 (act), those whose identifier hashes below `share` (the
    rule and salt of `kpiml serve --holdout`, so a customer gets the same assignment in batch
    and REST) get decision 0 and control 1; every other row gets control 0. A CRM script that
    acts on `decision == 1` therefore leaves the control group alone without reading `control`;
    `kpiml monitor` counts control rows as would-act rows when it measures the KPI impact.
    """

    def __init__(self, inner: _Writer, id_column: str, share: float, salt: str) -> None:
        self.inner, self.id_column, self.share, self.salt = inner, id_column, share, salt
        self.acted = self.held = 0

    def write(self, frame: pd.DataFrame) -> None:
        from kpiml.monitoring.control import control_among_actions

        if self.id_column not in frame.columns:
            raise KpimlError(f"--holdout assigns the control group by the identifier '{self.id_column}', which the data lacks",
                             expected=f"a column '{self.id_column}'", fix=f"add '{self.id_column}' to the data, or drop --holdout")
        act = pd.to_numeric(frame["decision"], errors="coerce").fillna(0).to_numpy() == 1
        control = control_among_actions(frame[self.id_column], act, self.share, self.salt)
        self.acted, self.held = self.acted + int(act.sum()), self.held + int(control.sum())
        self.inner.write(frame.assign(decision=frame["decision"].where(~control, 0), control=control.astype("int8")))

    def close(self) -> None:
        self.inner.close()

    def note(self) -> str:
        return (f"Control group: {self.held:,} of the {self.acted:,} rows the model would act on held out "
                f"({self.held / max(self.acted, 1):.1%}; decision 0, control 1), chosen by the hash of '{self.id_column}'")


def _control_writer(writer: _Writer, bundle: Any, rule: DecisionRule, holdout: float, salt: str) -> _Writer:
    """`writer` itself without a hold-out; else one that marks the control group (checked first)."""
    if holdout <= 0:
        return writer
    acts = rule.problem == "binary" or (rule.problem == "regression" and (rule.regression or {}).get("cost") is not None)
    if not acts:
        raise KpimlError(f"--holdout needs a model whose decisions are act / do not act; this one is {rule.problem}", fix="drop --holdout for this model")
    ids = bundle.contract.get("identifiers") or []
    if not ids:
        raise KpimlError("--holdout needs an identifier column to assign the control group by its hash, and this model's contract has none",
                         expected="a column with use: identifier in kpiml.yaml", fix="mark the customer id column as an identifier and retrain, or drop --holdout")
    return _ControlWriter(writer, str(ids[0]), holdout, salt)


def output_kind(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise KpimlError(f"Cannot tell the output format of '{out}'", expected="a file name ending in .csv or .parquet", got=suffix or "no suffix", fix="name the output e.g. scores.csv or scores.parquet")


@dataclass(frozen=True)
class DecisionRule:
    """How a bundle turns predictions into decisions and expected values.

    `point` is the binary KPI operating point (None for older bundles, which fall back to the
    model's threshold); `regression` holds a regression KPI's cost of acting and capacity.
    `economics` is False when the point only encodes the default p >= 0.5 rule, whose
    "expected value" is not money and is therefore left empty.
    """

    problem: str
    point: Any = None  # kpiml.kpi.OperatingPoint
    economics: bool = False
    regression: dict[str, Any] | None = None

    @property
    def value_column(self) -> str | None:
        return None if self.point is None else self.point.kpi.economics.value_column

    @property
    def whole_file(self) -> bool:
        """Whether a capacity must hold over all rows of the file (two passes)."""
        if self.point is not None:
            return self.point.threshold is not None and (self.point.max_share is not None or self.point.max_count is not None)
        return bool(self.regression and self.regression.get("cost") is not None and self.regression.get("capacity"))

    def values(self, frame: pd.DataFrame, offset: int = 0) -> np.ndarray | None:
        """The value column of `frame` as amounts; a missing or unreadable value is refused."""
        name = self.value_column
        if name is None:
            return None
        if name not in frame.columns:
            raise KpimlError(f"The data lacks the value column '{name}' that the model's decisions are valued with",
                             expected=f"a column '{name}' with each row's value", fix=f"add '{name}' to the data to score")
        values = np.asarray(coerce_column(frame[name], "numeric"), dtype="float64")
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise KpimlError(f"Value column '{name}' has missing or unreadable values at data row(s) {_rows_text(bad, offset, frame[name])}",
                             expected="an amount on every row", fix="fill those values (each row's decision depends on it)")
        return values

    def decide(self, model: Any, pred: np.ndarray, values: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Decisions and expected values of rows scored together (a capacity holds over them)."""
        nan = np.full(len(pred), np.nan)
        if self.problem == "regression":
            return self._regression(np.asarray(pred, dtype="float64"), nan)
        if self.point is None or self.problem != "binary":
            return model.decisions_from(pred), nan
        from kpiml.kpi import apply_operating_point

        decision, ev = apply_operating_point(self.point, pred[:, 1], values, per_batch=True)
        return decision, (ev if self.economics else nan)

    def _regression(self, pred: np.ndarray, nan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from kpiml.kpi import max_rows, regression_decisions
        from kpiml.spec import Capacity

        rule = self.regression or {}
        if rule.get("cost") is None:
            return nan, nan
        limit = max_rows(Capacity(**rule.get("capacity", {})), len(pred), rule.get("contact"))
        return regression_decisions(pred, float(rule["cost"]), limit)


def decision_rule(bundle: Any) -> DecisionRule:
    """The decision rule stored in a loaded bundle (kpiml.artifact.Bundle)."""
    from kpiml.artifact import read_operating_point

    stored = bundle.metadata.get("operating_point") or {}
    problem = bundle.model.problem
    if problem == "regression":
        return DecisionRule(problem, economics=bool(stored.get("economics")), regression=stored if stored.get("kind") == "regression" else None)
    point = read_operating_point(bundle.path) if problem == "binary" else None
    return DecisionRule(problem, point=point, economics=bool(stored.get("economics")) and point is not None)


def score_frame(model: Any, frame: pd.DataFrame, identifiers: list[str], rule: DecisionRule | None = None, offset: int = 0, reasons: int = 0) -> pd.DataFrame:
    """Identifier columns present in `frame`, then `score`, `decision` and `expected_value`
    (and `reason_1` .. `reason_<reasons>` in plain words when `reasons` > 0).

    The decisions treat `frame` as one batch: a capacity holds over its rows.
    """
    return _score(model, frame, identifiers, rule or DecisionRule(model.problem), offset, reasons)[0]


def _score(model: Any, frame: pd.DataFrame, identifiers: list[str], rule: DecisionRule, offset: int, reasons: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """The scored frame and, for a decision over the whole file, each row's (score, value).

    With `reasons` the score comes out of the same pass that explains it (`explain` returns
    the model's prediction matrix along with the contributions)."""
    from kpiml.evaluation.explanations import explain, reason_columns

    found = explain(model, frame) if reasons > 0 and len(frame) else None
    pred = found.pred if found is not None else model.predict_matrix(frame)
    values = rule.values(frame, offset)
    out = frame[[c for c in identifiers if c in frame.columns]].reset_index(drop=True).copy()
    out["score"] = model.scores_from(pred)
    out["decision"], out["expected_value"] = rule.decide(model, pred, values)
    if found is not None:
        out = pd.concat([out, reason_columns(found, model.problem, reasons)], axis=1)
    score = pred[:, 1] if pred.ndim == 2 and pred.shape[1] == 2 else out["score"].to_numpy()
    return out, np.column_stack([score, values if values is not None else np.full(len(score), np.nan)])


def _chunks(data: str | Path, table: str | None, query: str | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
    from kpiml.data.clean import clean_frame
    from kpiml.data.readers import iter_batches

    for raw in iter_batches(data, table=table, query=query, batch_rows=chunk_rows):
        yield clean_frame(raw)[0]


@dataclass
class _Pass:
    """What one pass over the chunks collected: rows, identifier columns seen, notes."""

    rows: int = 0
    seen: set[str] = field(default_factory=set)
    notes: CheckNotes = field(default_factory=CheckNotes)
    acted: int = 0
    reasons: int = 0  # reason columns per row (0: none)


def _score_chunks(bundle: Any, rule: DecisionRule, chunks: Iterator[pd.DataFrame], write: Any, state: _Pass, keep: list[np.ndarray] | None = None) -> None:
    """Check and score each chunk and hand it to `write`; `keep` collects (pred, values) for a second pass."""
    ids = bundle.contract.get("identifiers", [])
    for chunk in chunks:
        check_frame(chunk, bundle.contract, state.rows, state.notes)
        scored, inputs = _score(bundle.model, chunk, ids, rule, state.rows, state.reasons)
        if keep is not None:
            keep.append(inputs)
        write(scored)
        state.rows += len(chunk)
        state.seen &= set(map(str, chunk.columns))
        state.acted += int(np.nansum(pd.to_numeric(scored["decision"], errors="coerce"))) if rule.problem != "multiclass" else 0


def _decide_whole_file(bundle: Any, rule: DecisionRule, kept: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Decisions over all rows at once, so the capacity holds over the file, not each chunk."""
    both = np.concatenate(kept) if kept else np.empty((0, 2))
    score, values = both[:, 0], (both[:, 1] if rule.value_column else None)
    pred = np.column_stack([1 - score, score]) if rule.problem == "binary" else score
    return rule.decide(bundle.model, pred, values)


def _rewrite(scratch: Path, writer: _Writer, decision: np.ndarray, ev: np.ndarray) -> None:
    """Second pass: read the scored rows back in batches and write them with the global decisions."""
    import pyarrow.parquet as pq

    start = 0
    for batch in pq.ParquetFile(scratch).iter_batches(batch_size=100_000):
        frame = batch.to_pandas()
        stop = start + len(frame)
        frame["decision"], frame["expected_value"] = decision[start:stop], ev[start:stop]
        writer.write(frame)
        start = stop


def predict_file(model_dir: Path, data: str | Path, out: Path, *, table: str | None = None, query: str | None = None, chunk_rows: int = 100_000,
                 holdout: float = 0.0, holdout_salt: str = "kpiml-control", reasons: int = 3) -> PredictSummary:
    """Score `data` chunk by chunk into `out` (written atomically: all rows or no file), with the
    `reasons` strongest reasons of each score in plain words (`reason_1` ...; 0 for none).

    With a capacity the scored rows go to a scratch Parquet file first; the decisions are then
    taken over all rows together and written in a second pass (see the module docstring).
    """
    from kpiml.artifact import load_bundle
    from kpiml.atomic import atomic_path

    start = time.monotonic()
    kind = output_kind(Path(out))
    bundle = load_bundle(Path(model_dir))
    rule = decision_rule(bundle)
    ids = bundle.contract.get("identifiers", [])
    state = _Pass(seen=set(ids), reasons=reasons)
    with atomic_path(Path(out)) as tmp:
        writer = _control_writer(_Writer(tmp, kind), bundle, rule, holdout, holdout_salt)
        try:
            if rule.whole_file:
                _two_passes(bundle, rule, _chunks(data, table, query, chunk_rows), writer, state, tmp)
            else:
                _score_chunks(bundle, rule, _chunks(data, table, query, chunk_rows), writer.write, state)
        finally:
            writer.close()
    missing_ids = [c for c in ids if c not in state.seen]
    lines = state.notes.lines() + ([f"Identifier column(s) {', '.join(missing_ids)} not in the data: output rows follow input order"] if missing_ids else [])
    if isinstance(writer, _ControlWriter):
        lines.append(writer.note())
    if rule.whole_file and rule.point is not None:
        lines.append(f"Capacity applied over all {state.rows:,} rows: {state.acted:,} acted on ({state.acted / max(state.rows, 1):.1%})")
    return PredictSummary(rows=state.rows, out=Path(out), seconds=time.monotonic() - start, notes=lines)


def _two_passes(bundle: Any, rule: DecisionRule, chunks: Iterator[pd.DataFrame], writer: _Writer, state: _Pass, tmp: Path) -> None:
    """Pass one scores every chunk into a scratch file; pass two writes the global decisions."""
    scratch = tmp.with_name(tmp.name + ".scratch.parquet")
    kept: list[np.ndarray] = []
    first = _Writer(scratch, "parquet")
    try:
        _score_chunks(bundle, rule, chunks, first.write, state, kept)
        first.close()
        decision, ev = _decide_whole_file(bundle, rule, kept)
        state.acted = int(np.nansum(decision))
        if state.rows:
            _rewrite(scratch, writer, decision, ev)
    finally:
        first.close()
        scratch.unlink(missing_ok=True)
