"""Score validated rows: typed column arrays, one model call per micro-batch, decisions, control.

Validated request rows are turned straight into one numpy array per feature, in the
representation the training pipeline's coercer produces (float64 with NaN, object text with
NaN, datetime64), so a micro-batch of rows from many requests costs one model call. The model
call goes through the compiled numpy path (`fastpath`) when it was proven equal to the sklearn
pipeline at load time, else through the bundle's own pipeline on a DataFrame.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kpiml.serving.decisions import DecisionRule, reasons_for
from kpiml.serving.schema import BOOL_WORDS, TRUE_WORDS

log = logging.getLogger("kpiml.serve")


@dataclass
class Batch:
    """Rows of one or more requests as typed columns, plus what the log and answer need."""

    n: int
    columns: dict[str, np.ndarray]
    ids: dict[str, list[Any]]
    values: np.ndarray | None
    inputs: dict[str, list[Any]]  # input name -> JSON-ready values (the log's `inputs`)


@dataclass
class Scored:
    score: np.ndarray
    decision: list[Any]
    expected_value: np.ndarray | None
    control: np.ndarray
    notes: list[list[str]]
    reasons: list[str] = field(default_factory=list)  # each row's reasons as JSON text


# every value the schema lets through for a boolean feature (True and 1 are one dict key)
_FLAGS: dict[Any, float] = {None: np.nan, True: 1.0, False: 0.0, **{w: (1.0 if w.lower() in TRUE_WORDS else 0.0) for w in BOOL_WORDS}}


def _column(raw: list[Any], kind: str) -> np.ndarray:
    """One feature's values in the dtype the pipeline's coercer would produce."""
    if kind == "numeric":
        return np.array(raw, dtype="float64")
    if kind == "boolean":
        return np.array([_FLAGS[v] for v in raw], dtype="float64")
    if kind == "datetime":
        import pandas as pd

        naive = [None if v is None else (v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v) for v in raw]
        return np.asarray(pd.to_datetime(pd.Series(naive, dtype=object), errors="coerce", format="mixed").astype("datetime64[ns]").to_numpy())
    return np.array([np.nan if v is None else str(v) for v in raw], dtype=object)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


class Scorer:
    """Scores rows of one loaded bundle; safe to call from one thread at a time."""

    def __init__(self, bundle: Any, rule: DecisionRule, *, holdout: float = 0.0, salt: str = "kpiml-control", reasons: int = 3, fast: Any = None, check_unseen: bool = False) -> None:
        self.bundle, self.rule, self.holdout, self.salt, self.top_reasons, self.fast = bundle, rule, holdout, salt, reasons, fast
        self.check_unseen = check_unseen  # only when the schema lets unseen categories through
        contract = bundle.contract
        self.features = [(f"f{i}", e["name"], e.get("kind", "numeric"), e) for i, e in enumerate(contract["features"])]
        self.identifiers = [(f"id{j}", name) for j, name in enumerate(contract.get("identifiers", []))]
        self.value_field = None  # the row field holding the KPI's per-row value (schema.row_model)
        if rule.value_column is not None:
            self.value_field = next((f for f, n, _, _ in self.features if n == rule.value_column), "v0")
        self.explains = _has_explanations()
        self.prepared = _prepared(bundle.model) if self.explains else None
        self.fast_reasons = self.json_reasons = False
        self.fast_reasons = self._prove_fast_reasons()
        self.json_reasons = self._prove_json_reasons()

    def prepare(self, rows: Any) -> Batch:
        """Typed feature columns, identifiers, KPI values and JSON-ready inputs of `rows`
        (validated pydantic rows, or `columnar.FastRows`)."""
        return self.prepare_parts([rows])

    def prepare_parts(self, parts: list[Any]) -> Batch:
        """`prepare` of several requests' rows as one batch, in order."""
        from kpiml.serving.columnar import field_lists

        names = [f for f, _, _, _ in self.features] + [f for f, _ in self.identifiers] + (["v0"] if self.value_field == "v0" else [])
        fields, n = field_lists(parts, names)
        columns = {name: _column(fields[f], kind) for f, name, kind, _ in self.features}
        ids = {name: fields[f] for f, name in self.identifiers}
        values = None if self.value_field is None else np.array(fields[self.value_field], dtype="float64")
        dated = [(f, n) for f, n, k, _ in self.features if k == "datetime"]
        plain = [(f, n) for f, n, k, _ in self.features if k != "datetime"]
        if self.value_field == "v0":
            plain.append(("v0", str(self.rule.value_column)))
        inputs = {name: fields[f] for f, name in plain}
        inputs.update({name: [_json_value(v) for v in fields[f]] for f, name in dated})
        return Batch(n, columns, ids, values, inputs)

    def frame(self, batch: Batch) -> Any:
        import pandas as pd

        return pd.DataFrame(batch.columns)

    def predict(self, batch: Batch, encoded: list[np.ndarray] | None = None) -> np.ndarray:
        """The model's prediction matrix (calibrated), through the fast path when proven
        (which appends each part's encoded matrix to `encoded` when given)."""
        if self.fast is not None:
            return np.asarray(self.fast.predict_matrix(batch.columns, encoded), dtype="float64")
        return np.asarray(self.bundle.model.predict_matrix(self.frame(batch)), dtype="float64")

    def score(self, batch: Batch) -> Scored:
        """Scores, decisions (control rows set to 0), expected values, notes and reasons."""
        encoded: list[np.ndarray] = []
        pred = self.predict(batch, encoded)
        score, decision, ev = self.rule.apply(pred, batch.values)
        control = self._control(batch, decision)
        for i in np.flatnonzero(control):
            decision[int(i)] = 0
        return Scored(score, decision, ev, control, self.notes(batch), self.reason_texts(batch.columns, batch.n, encoded))

    def reason_texts(self, columns: dict[str, np.ndarray], n: int, encoded: list[np.ndarray]) -> list[str]:
        """Each row's reasons as the JSON text of its answer's `reasons` list: built straight
        from the explanation's arrays once that is proven to give the bytes the dicts of
        `reasons` encode to (at load), else by encoding those dicts."""
        if self.top_reasons <= 0 or not self.explains:
            return ["[]"] * n
        if self.json_reasons and self.fast_reasons and encoded:
            from kpiml.evaluation import explanations
            from kpiml.serving.encoding import reasons_json
            from kpiml.serving.fastpath import encoded_model

            frame = _frame(columns, n)
            model = encoded_model(self.bundle.model, encoded, frame)
            t = explanations.reason_table(explanations.explain(model, frame, prepared=self.prepared), model.problem, self.top_reasons)
            return reasons_json(t.names, t.order, t.values, t.texts, t.effect)
        from kpiml.serving.encoding import _ENCODE

        return [_ENCODE(row) if row else "[]" for row in self.reasons(columns, n, encoded)]

    def reasons(self, columns: dict[str, np.ndarray], n: int, encoded: list[np.ndarray]) -> list[list[dict[str, Any]]]:
        """Top reasons per row; explained on the fast path's matrices once that is proven to
        give the same reasons (the sklearn pipeline costs tens of milliseconds per batch)."""
        if self.top_reasons <= 0 or not self.explains:
            return [[] for _ in range(n)]
        frame = _frame(columns, n)
        bundle = self.bundle
        if self.fast_reasons and encoded:
            from kpiml.serving.fastpath import encoded_model

            bundle = replace(bundle, model=encoded_model(bundle.model, encoded, frame))
        return reasons_for(bundle, frame, self.top_reasons, self.prepared)

    def _prove_fast_reasons(self) -> bool:
        """Whether reasons explained on the fast path's matrices equal the pipeline's, on the
        probe rows `compile_model` scores (checked once, at load)."""
        if self.fast is None or not self.explains or self.top_reasons <= 0:
            return False
        import pandas as pd

        from kpiml.serving.fastpath import synthetic_columns

        columns = synthetic_columns(self.bundle.contract, n=200)
        try:
            slow = reasons_for(self.bundle, pd.DataFrame(columns), self.top_reasons)
            self.fast_reasons = True
            encoded: list[np.ndarray] = []
            self.fast.predict_matrix(columns, encoded)
            quick = self.reasons(columns, len(slow), encoded)
        except Exception as exc:  # an explanation the view cannot give: explain through sklearn
            log.info("reasons through the sklearn pipeline (%s: %s)", type(exc).__name__, exc)
            return False
        same = all(_same_reasons(a, b) for a, b in zip(slow, quick, strict=True))
        if not same:
            log.warning("reasons on the fast path differ from the pipeline's; explaining through sklearn")
        return same

    def _prove_json_reasons(self) -> bool:
        """Whether `reason_texts` from the explanation's arrays gives the bytes the reasons'
        dicts encode to, on the probe rows (checked once, at load)."""
        from kpiml.evaluation import explanations

        if not self.fast_reasons or not hasattr(explanations, "reason_table"):
            return False
        from kpiml.serving.encoding import _ENCODE
        from kpiml.serving.fastpath import synthetic_columns

        columns = synthetic_columns(self.bundle.contract, n=200, seed=1)
        encoded: list[np.ndarray] = []
        self.fast.predict_matrix(columns, encoded)
        want = [_ENCODE(row) if row else "[]" for row in self.reasons(columns, 200, encoded)]
        try:
            self.json_reasons = True
            got = self.reason_texts(columns, 200, encoded)
        except Exception as exc:  # a value the JSON path cannot write: encode the dicts
            log.info("reasons encoded from dicts (%s: %s)", type(exc).__name__, exc)
            return False
        if got != want:
            log.warning("reasons written from the explanation's arrays differ from the encoded dicts; encoding the dicts")
        return got == want

    def _control(self, batch: Batch, decision: list[Any]) -> np.ndarray:
        if self.holdout <= 0 or not self.rule.acts or not self.identifiers:
            return np.zeros(batch.n, dtype=bool)
        from kpiml.monitoring.control import control_among_actions

        ids = batch.ids[self.identifiers[0][1]]
        return np.asarray(control_among_actions(ids, np.asarray(decision) == 1, self.holdout, self.salt), dtype=bool)

    def notes(self, batch: Batch) -> list[list[str]]:
        """Per row: numbers outside the training range, categories unseen in training."""
        out: list[list[str]] = [[] for _ in range(batch.n)]
        for _, name, kind, entry in self.features:
            col = batch.columns[name]
            if kind == "numeric" and entry.get("min") is not None:
                with np.errstate(invalid="ignore"):
                    outside = np.flatnonzero((col < entry["min"]) | (col > entry["max"]))
                for i in outside:
                    out[int(i)].append(f"{name}={col[i]:g} is outside the training range [{entry['min']:g}, {entry['max']:g}]: the score extrapolates")
            elif kind == "categorical" and self.check_unseen and entry.get("categories_complete"):
                known = set(entry.get("categories", []))
                for j, v in enumerate(col):
                    if isinstance(v, str) and v not in known:
                        out[j].append(f"{name}={v!r} was not seen in training: scored as an unknown category")
        return out


@functools.lru_cache(maxsize=8)
def _column_index(names: tuple[str, ...]) -> Any:
    """The frame's column labels as an object Index, built once per model: from a list, pandas
    3 infers an Arrow string Index on every frame (about 90 µs a frame of 19 columns)."""
    import pandas as pd

    return pd.Index(list(names), dtype=object)


def _frame(columns: dict[str, np.ndarray], n: int) -> Any:
    """The typed columns as a DataFrame, kept as they are (object text stays object, not
    pandas' inferred string dtype): pandas' private `_from_arrays` skips the inference and
    checks, a third of a small batch's explaining time; the public constructor where absent."""
    import pandas as pd

    make = getattr(pd.DataFrame, "_from_arrays", None)
    if make is None or not columns:
        return pd.DataFrame(columns)
    try:
        return make(list(columns.values()), columns=_column_index(tuple(columns)), index=pd.RangeIndex(n), verify_integrity=False)
    except TypeError:  # a pandas whose private signature changed
        return pd.DataFrame(columns)


def _same_reasons(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    if [(r["feature"], r.get("value"), r.get("text")) for r in a] != [(r["feature"], r.get("value"), r.get("text")) for r in b]:
        return False
    return all(abs(x["effect"] - y["effect"]) <= 1e-9 for x, y in zip(a, b, strict=True))


def _prepared(model: Any) -> Any:
    """The column maps and reference points of the model's parts, kept for every batch."""
    from kpiml.evaluation import explanations

    make = getattr(explanations, "Prepared", None)
    return None if make is None else make(model)


def _has_explanations() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("kpiml.evaluation.explanations") is not None
    except ModuleNotFoundError:
        return False
