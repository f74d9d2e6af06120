"""The pydantic model of `kpiml.yaml`: the single source of truth for a kpiml project.

`kpiml plan` writes it from the data, a user edits it, and every later stage (train,
report, serve, monitor) reads it. Every decision carries the reason it was taken, so an
edited spec still explains itself. Unknown keys are rejected (`extra="forbid"`) because a
misspelt key that is silently ignored is the worst kind of configuration bug.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kpiml.errors import KpimlError

SPEC_VERSION = 1

ProblemType = Literal["binary", "multiclass", "regression"]
ColumnRole = Literal[
    "identifier",
    "numeric",
    "categorical",
    "boolean",
    "datetime",
    "text",
    "constant",
    "personal",
    "empty",
]
ColumnUse = Literal["feature", "identifier", "target", "time", "group", "exclude"]
Imputation = Literal["none", "median", "mean", "most_frequent", "constant", "missing_category"]
Encoding = Literal["none", "onehot", "ordinal", "target", "date_parts", "tfidf"]
Scaling = Literal["none", "standard", "robust"]
OutlierTreatment = Literal["none", "clip_iqr", "clip_quantile", "log1p"]
SplitStrategy = Literal["stratified", "random", "grouped", "time"]
ModelName = Literal["logistic", "linear", "random_forest", "extra_trees", "lightgbm", "xgboost", "catboost", "svm", "mlp"]
SearchMethod = Literal["optuna_tpe", "random", "none"]
KpiTemplate = Literal["churn", "conversion", "credit", "custom", "none"]


class StrictModel(BaseModel):
    """Base for every spec block: unknown keys are an error, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ProjectBlock(StrictModel):
    name: str
    description: str = ""
    kpiml_version: str = ""


class DataBlock(StrictModel):
    source: str = Field(description="Path or database URL the table was read from.")
    table: str | None = None
    query: str | None = None
    rows: int = Field(ge=0, description="Rows seen when the plan was made.")
    columns: int = Field(ge=0)
    fingerprint: str = Field(description="SHA-256 of the table's contents when profiled.")


class TargetBlock(StrictModel):
    column: str
    problem: ProblemType
    positive: str | None = Field(default=None, description="Positive label of a binary target.")
    classes: list[str] = Field(default_factory=list)
    reason: str = ""


class ColumnPlan(StrictModel):
    """How one column is treated, and why."""

    name: str
    role: ColumnRole
    use: ColumnUse
    impute: Imputation = "none"
    encode: Encoding = "none"
    scale: Scaling = "none"
    outliers: OutlierTreatment = "none"
    hinges: list[float] = Field(default_factory=list, description="Linear models only: let the effect bend at each of these values (adds max(0, knot - value) beside the value).")
    reason: str = ""

    @model_validator(mode="after")
    def _hinges_on_numbers(self) -> ColumnPlan:
        if self.hinges and self.role != "numeric":
            raise ValueError(f"hinges bend a number; column '{self.name}' has role '{self.role}': remove its hinges")
        if any(not math.isfinite(k) for k in self.hinges):
            raise ValueError(f"hinges of column '{self.name}' must be finite numbers, got {self.hinges}")
        if self.hinges and self.outliers == "log1p":
            raise ValueError(f"column '{self.name}': hinges are in the column's own units and log1p changes them; keep one of the two")
        return self


class Economics(StrictModel):
    """The payoff of acting on one row, in currency; a template fills it from business terms."""

    benefit_tp: float = Field(default=0.0, description="Net value of acting on a true positive.")
    cost_fp: float = Field(default=0.0, ge=0, description="Cost of acting on a false positive.")
    cost_fn: float = Field(default=0.0, ge=0, description="Cost of not acting on a positive.")
    benefit_tn: float = Field(default=0.0, description="Value of not acting on a negative.")
    value_column: str | None = Field(default=None, description="Per-row value (e.g. CLV).")
    # Business terms of the templates (Verbraken et al. 2013 for churn).
    clv: float | None = Field(default=None, gt=0)
    incentive: float | None = Field(default=None, ge=0)
    contact: float | None = Field(default=None, ge=0)
    acceptance: float | None = Field(default=None, ge=0, le=1)
    acceptance_alpha: float | None = Field(default=None, gt=0)
    acceptance_beta: float | None = Field(default=None, gt=0)
    margin: float | None = Field(default=None)
    loss_given_default: float | None = Field(default=None, ge=0)


class Capacity(StrictModel):
    """How many rows can be acted on: a share, a count, or a budget divided by contact cost."""

    share: float | None = Field(default=None, gt=0, le=1)
    count: int | None = Field(default=None, gt=0)
    budget: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Capacity:
        given = [k for k in ("share", "count", "budget") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"set only one of share, count or budget (got {', '.join(given)})")
        return self


class KpiBlock(StrictModel):
    name: str = Field(description="The KPI in the business's words, e.g. 'customer churn'.")
    template: KpiTemplate = "none"
    direction: Literal["reduce", "increase"] = "reduce"
    economics: Economics = Field(default_factory=Economics)
    capacity: Capacity = Field(default_factory=Capacity)
    primary_metric: str = "roc_auc"
    reason: str = ""


class SplitBlock(StrictModel):
    strategy: SplitStrategy
    holdout: float = Field(gt=0, lt=0.9, description="Share of rows kept for the final hold-out.")
    folds: int = Field(ge=2, le=20)
    group_column: str | None = None
    time_column: str | None = None
    embargo_days: float = Field(default=0, ge=0, description="Time-ordered splits: a training row must be this long before every validation row (a snapshot's label horizon).")
    seed: int = 0
    reason: str = ""

    @model_validator(mode="after")
    def _columns_for_strategy(self) -> SplitBlock:
        if self.strategy == "grouped" and not self.group_column:
            raise ValueError("strategy 'grouped' needs group_column")
        if self.strategy == "time" and not self.time_column:
            raise ValueError("strategy 'time' needs time_column")
        return self


class SnapshotFeature(StrictModel):
    name: str
    reason: str = ""
    duration: bool = Field(default=False, description="Days since signup or an event: linear models may bend it at a month, a quarter, half a year and a year.")


class SnapshotBlock(StrictModel):
    """What a snapshot table is: one row per (entity, cutoff), features from before the cutoff,
    a label from the horizon after it. It decides the split (time-ordered by cutoff, entities
    grouped, embargoed by the horizon) and which columns are checked for leakage."""

    entity_column: str = Field(description="Entity id; each entity has one row per cutoff it was active at.")
    cutoff_column: str = "cutoff"
    label_column: str = "label"
    horizon_days: int | None = Field(default=None, ge=1, description="Label window (cutoff, cutoff + horizon]; None when unknown.")
    label_definition: str = ""
    cutoffs: list[str] = Field(default_factory=list)
    windows: list[int] = Field(default_factory=list, description="Feature windows in days.")
    window_reason: str = ""
    features: list[SnapshotFeature] = Field(default_factory=list, description="Columns built by `kpiml snapshots`, each with why.")
    reason: str = ""


class Candidate(StrictModel):
    name: ModelName
    enabled: bool = True
    max_rows: int | None = Field(default=None, gt=0, description="Subsample above this size.")
    reason: str = ""


class SearchBlock(StrictModel):
    method: SearchMethod = "optuna_tpe"
    budget_seconds: int = Field(gt=0)
    early_stopping: bool = True
    imbalance: Literal["none", "class_weight", "undersample"] = "none"
    calibration: Literal["auto", "sigmoid", "isotonic", "none"] = "auto"
    reason: str = ""


class ModelsBlock(StrictModel):
    candidates: list[Candidate]
    search: SearchBlock


class MetricsBlock(StrictModel):
    primary: str
    secondary: list[str] = Field(default_factory=list)
    reason: str = ""


class DeploymentBlock(StrictModel):
    mode: Literal["batch", "rest", "batch_and_rest"] = "batch"
    schedule: str = ""
    reason: str = ""


class MonitoringBlock(StrictModel):
    psi_watch: float = Field(default=0.1, gt=0)
    psi_retrain: float = Field(default=0.25, gt=0)
    metric_drop_retrain: float = Field(default=0.05, gt=0, description="Absolute drop in primary metric.")
    min_outcomes: int = Field(default=200, gt=0)
    reason: str = ""


class Risk(StrictModel):
    severity: Literal["high", "medium", "low"]
    title: str
    detail: str


class Spec(StrictModel):
    """Everything kpiml decided about a project; edit it, then re-render the plan or train."""

    version: Literal[1] = 1
    project: ProjectBlock
    data: DataBlock
    snapshot: SnapshotBlock | None = None
    target: TargetBlock
    columns: list[ColumnPlan]
    kpi: KpiBlock
    split: SplitBlock
    models: ModelsBlock
    metrics: MetricsBlock
    deployment: DeploymentBlock
    monitoring: MonitoringBlock
    risks: list[Risk] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent_columns(self) -> Spec:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns lists {', '.join(dupes)} more than once")
        for key, col in (("split.group_column", self.split.group_column), ("split.time_column", self.split.time_column)):
            if col is not None and col not in names:
                raise ValueError(f"{key} names '{col}', which is not in columns")
        if self.snapshot is not None:
            for key in ("entity_column", "cutoff_column"):
                col = getattr(self.snapshot, key)
                if col not in names:
                    raise ValueError(f"snapshot.{key} names '{col}', which is not in columns")
        if self.target.problem == "binary" and self.target.positive is None:
            raise ValueError("target.positive must be set for a binary target")
        return self

    def feature_columns(self) -> list[ColumnPlan]:
        return [c for c in self.columns if c.use == "feature"]


def _format_validation_error(exc: ValidationError, source: str) -> KpimlError:
    lines = []
    for err in exc.errors()[:10]:
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling against the keys kpiml.yaml documents)"
        lines.append(f"{path}: {msg}")
    return KpimlError(
        f"Spec {source} is not valid: " + "; ".join(lines),
        expected="keys and values as described in docs/spec.md",
        fix=f"edit {source} at the key path(s) named above",
    )


def spec_from_dict(raw: Any, source: str = "kpiml.yaml") -> Spec:
    if not isinstance(raw, dict):
        raise KpimlError(f"Spec {source} is not a mapping", expected="a YAML mapping of blocks", got=type(raw).__name__, fix="regenerate it with `kpiml plan`")
    try:
        return Spec.model_validate(raw)
    except ValidationError as exc:
        raise _format_validation_error(exc, source) from None


def load_spec(path: str | Path) -> Spec:
    p = Path(path)
    if not p.is_file():
        raise KpimlError(f"Spec file {p} does not exist", fix="run `kpiml plan DATA --target COL --out DIR` to create DIR/kpiml.yaml")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise KpimlError(f"Spec {p} is not valid YAML{where}", got=str(getattr(exc, "problem", exc)), fix="fix the YAML syntax there") from None
    return spec_from_dict(raw, str(p))


def spec_to_yaml(spec: Spec) -> str:
    header = (
        "# kpiml project spec: every decision of plan.md, editable.\n"
        "# Edit values, then `kpiml plan --spec THIS_FILE` re-renders the plan and\n"
        "# `kpiml train --spec THIS_FILE` trains from it. Unknown keys are rejected.\n"
    )
    body = yaml.safe_dump(spec.model_dump(mode="json", exclude={"snapshot"} if spec.snapshot is None else None), sort_keys=False, allow_unicode=True, width=100)
    return header + body
