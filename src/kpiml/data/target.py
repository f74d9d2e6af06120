"""Check the target column and decide the problem type (binary, multiclass, regression).

Every way a target can be unusable gets its own message, because a wrong target is the
mistake that wastes the most downstream work: a misspelt name, labels that differ only in
case or spaces, a single class, or a positive label that is not among the values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpiml.errors import KpimlError, closest_names
from kpiml.spec import ProblemType

MAX_CLASSES = 50
_POSITIVE_WORDS = ["yes", "true", "1", "y", "churn", "churned", "bad", "default", "defaulted", "positive", "converted", "fraud"]


@dataclass
class TargetCheck:
    column: str
    problem: ProblemType
    positive: str | None
    classes: list[str]
    counts: dict[str, int]
    missing_dropped: int
    reason: str


def require_column(df: pd.DataFrame, column: str, source: str, what: str = "Target column") -> None:
    if column in df.columns:
        return
    names = [str(c) for c in df.columns]
    near = closest_names(column, names)
    hint = f"did you mean {', '.join(repr(n) for n in near)}?" if near else f"pick one of: {', '.join(names[:20])}"
    raise KpimlError(f"{what} '{column}' is not in {source}", expected="a column of the table", got=f"{len(names)} columns", fix=hint)


def _check_labels_consistent(values: pd.Series, column: str) -> None:
    """'Yes', 'yes' and ' Yes' are one label typed three ways; training on them as three is wrong."""
    labels = pd.Series(values.dropna().unique()).astype(str)
    groups: dict[str, list[str]] = {}
    for label in labels:
        groups.setdefault(label.strip().lower(), []).append(label)
    clashes = [sorted(g) for g in groups.values() if len(g) > 1]
    if clashes:
        shown = "; ".join(", ".join(repr(v) for v in g) for g in clashes[:3])
        raise KpimlError(
            f"Target column '{column}' has labels that differ only in case or spaces: {shown}",
            expected="one spelling per class",
            fix=f"clean the labels in the data (e.g. strip spaces and lower-case '{column}') or map them to one spelling before planning",
        )


def _problem_type(values: pd.Series) -> ProblemType:
    distinct = values.nunique()
    if distinct == 2:
        return "binary"
    if pd.api.types.is_bool_dtype(values):
        return "binary"
    if pd.api.types.is_numeric_dtype(values):
        as_float = values.astype("float64")
        is_integer = bool(np.all(np.mod(as_float, 1) == 0))
        return "multiclass" if is_integer and distinct <= 10 else "regression"
    return "multiclass"


def _choose_positive(counts: dict[str, int], given: str | None, column: str) -> tuple[str, str]:
    labels = list(counts)
    if given is not None:
        if given not in labels:
            near = [lbl for lbl in labels if lbl.strip().lower() == given.strip().lower()]
            fix = f"use --positive {near[0]!r}" if near else f"use one of {', '.join(repr(v) for v in labels)}"
            raise KpimlError(f"--positive {given!r} is not a value of target column '{column}'", expected=f"one of {labels}", got=repr(given), fix=fix)
        return given, f"Positive class '{given}' was given by the user."
    for word in _POSITIVE_WORDS:
        for label in labels:
            if label.strip().lower() == word:
                return label, f"Positive class '{label}' chosen because its name marks the event of interest; set target.positive to change it."
    minority = min(labels, key=lambda lbl: counts[lbl])
    return minority, f"Positive class '{minority}' chosen as the minority class; set target.positive (or --positive) to change it."


def check_target(df: pd.DataFrame, column: str, positive: str | None, source: str) -> TargetCheck:
    """Validate the target and decide the problem type; raises KpimlError on unusable targets."""
    require_column(df, column, source)
    values = df[column]
    missing = int(values.isna().sum())
    if missing == len(values):
        raise KpimlError(f"Target column '{column}' in {source} is missing on every row", expected="labelled rows", fix="choose a target column that is filled, or add the outcomes")
    present = values.dropna()
    if not pd.api.types.is_numeric_dtype(present):
        _check_labels_consistent(present, column)
    distinct = int(present.nunique())
    if distinct < 2:
        only = present.iloc[0]
        raise KpimlError(f"Target column '{column}' in {source} has a single value ({only!r}) on all {len(present)} labelled rows", expected="at least two classes", fix="check the export: a model needs both outcomes to learn from")
    if positive is not None and distinct > 2:
        raise KpimlError(f"--positive was given, but target column '{column}' has {distinct} distinct values", expected="2 values for a binary target", got=", ".join(repr(str(v)) for v in present.unique()[:8]), fix="map the target to two classes first, or drop --positive for a multiclass problem")
    problem = _problem_type(present)
    return _finish(column, present, problem, positive, missing)


def _finish(column: str, present: pd.Series, problem: ProblemType, positive: str | None, missing: int) -> TargetCheck:
    if problem == "regression":
        reason = f"Target '{column}' is numeric with {present.nunique()} distinct values: a regression problem."
        return TargetCheck(column, problem, None, [], {}, missing, reason)
    counts = {str(k): int(v) for k, v in present.astype(str).value_counts().items()}
    if problem == "multiclass" and len(counts) > MAX_CLASSES:
        raise KpimlError(f"Target column '{column}' has {len(counts)} classes", expected=f"at most {MAX_CLASSES} classes for classification", fix="group rare classes, or use a numeric target for regression")
    if problem == "binary":
        pos, why = _choose_positive(counts, positive, column)
        share = counts[pos] / sum(counts.values())
        reason = f"Target '{column}' has two values: a binary problem; positive rate {share:.1%}. {why}"
        return TargetCheck(column, problem, pos, sorted(counts), counts, missing, reason)
    reason = f"Target '{column}' has {len(counts)} classes: a multiclass problem."
    return TargetCheck(column, problem, None, sorted(counts), counts, missing, reason)


def encode_target(values: pd.Series, check: TargetCheck) -> np.ndarray:
    """Numeric target for statistics: 1/0 for binary, class index for multiclass, float for regression."""
    if check.problem == "binary":
        return (values.astype(str) == check.positive).to_numpy(dtype="int8")
    if check.problem == "multiclass":
        lookup = {c: i for i, c in enumerate(check.classes)}
        return values.astype(str).map(lookup).to_numpy(dtype="int64")
    return values.to_numpy(dtype="float64")
