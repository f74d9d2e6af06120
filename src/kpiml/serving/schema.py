"""Request and response models of the REST API, the request one generated from the input contract.

A row model has one field per contract feature, so FastAPI's OpenAPI document, the 422 errors
and the scorer all follow the bundle the service actually loaded. Choices:

- Every feature is required; `null` is allowed only where training saw missing values, because
  only there the imputer learnt something sensible to put in its place.
- Types are strict JSON types (a number is a JSON number, not the text "12"): a client that sends
  text where a number belongs has a bug that coercion would hide. Boolean features also take
  0 / 1 and the words the training pipeline reads (yes / no, true / false, y / n, t / f in
  lower, capitalised or upper case). Categories are enums of the training categories (also as
  integers when they look like integers), unless `unseen_categories="accept"` or the contract
  stored only the first 1,000 of them, where unseen values score as the "other" bucket.
- Ranges: a number outside the training range is scored (with a note on the row), but one beyond
  it by more than `range_tolerance` times the training span is refused with a 422, since that is
  far more often a unit or sentinel mistake (cents for euros, -999 for unknown) than real drift.
  `range_tolerance=None` turns the hard check off.

Field names are positional (`f0`, `f1`, ...) with the column names as aliases, so any column
name (spaces, `model_config`, `json`) is a valid field.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
    create_model,
)

Kind = Literal["numeric", "boolean", "categorical", "datetime", "text"]
IdValue = Annotated[str, Strict()] | Annotated[int, Strict()]
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
BOOL_WORDS = tuple(dict.fromkeys(v for w in TRUE_WORDS + FALSE_WORDS for v in (w, w.capitalize(), w.upper())))


def _text_only(value: Any) -> Any:
    """Dates arrive as ISO text; a bare number would be read as seconds since 1970 silently."""
    if value is not None and not isinstance(value, str | dt.datetime | dt.date):
        raise ValueError("a date must be ISO 8601 text such as 2024-05-31 or 2024-05-31T12:00:00")
    return value


YEARS_PATTERN = r"^(16(7[89]|[89][0-9])|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])-"
DATE_SCHEMA = {"type": "string", "format": "date-time", "pattern": YEARS_PATTERN, "description": "ISO 8601 date or date-time between the years 1678 and 2261"}


def _representable(value: dt.datetime | None) -> dt.datetime | None:
    """The training pipeline holds dates as nanoseconds since 1970, which reach 1677-2262."""
    if value is not None and not 1678 <= value.year <= 2261:
        raise ValueError("a date must lie between the years 1678 and 2261")
    return value


def numeric_bounds(entry: dict[str, Any], tolerance: float | None) -> tuple[float | None, float | None]:
    """Hard limits of a numeric feature: the training range widened by `tolerance` x its span."""
    lo, hi = entry.get("min"), entry.get("max")
    if tolerance is None or lo is None or hi is None:
        return None, None
    span = float(hi) - float(lo)
    margin = tolerance * (span if span > 0 else max(abs(float(lo)), 1.0))
    return float(lo) - margin, float(hi) + margin


def _category_type(entry: dict[str, Any], unseen: str) -> Any:
    cats = [str(c) for c in entry.get("categories", [])]
    as_int = [int(c) for c in cats if c.lstrip("-").isdigit() and str(int(c)) == c]
    if unseen == "accept" or not entry.get("categories_complete", False) or not cats:
        return Annotated[str, Strict()] | Annotated[int, Strict()] if as_int else Annotated[str, Strict()]
    allowed: list[str | int] = [*cats, *as_int]
    return Literal[tuple(allowed)]  # type: ignore[valid-type]


def feature_type(entry: dict[str, Any], tolerance: float | None, unseen: str, *, nullable: bool = True) -> Any:
    """The pydantic type of one contract feature (nullable where training saw missing values,
    unless `nullable` is False: the KPI's value column needs an amount on every row)."""
    kind = entry.get("kind", "numeric")
    base: Any
    if kind == "numeric":
        lo, hi = numeric_bounds(entry, tolerance)
        base = Annotated[float, Strict(), Field(ge=lo, le=hi, allow_inf_nan=False)]
    elif kind == "boolean":
        base = Annotated[bool, Strict()] | Literal[0, 1] | Literal[BOOL_WORDS]  # type: ignore[valid-type]
    elif kind == "categorical":
        base = _category_type(entry, unseen)
    elif kind == "datetime":
        base = Annotated[dt.datetime, BeforeValidator(_text_only), AfterValidator(_representable), WithJsonSchema(DATE_SCHEMA)]
    else:
        base = Annotated[str, Strict()]
    return base | None if nullable and entry.get("missing_in_training") else base


def row_model(contract: dict[str, Any], *, tolerance: float | None, unseen: str, ids_required: bool, value_column: str | None = None) -> type[BaseModel]:
    """The request row model of a contract: features, identifiers, and the KPI's per-row value
    column (required and never null; its own field when it is not a feature)."""
    fields: dict[str, Any] = {}
    names = {e["name"] for e in contract["features"]}
    for i, entry in enumerate(contract["features"]):
        fields[f"f{i}"] = (feature_type(entry, tolerance, unseen, nullable=entry["name"] != value_column), Field(..., alias=entry["name"]))
    for j, name in enumerate(contract.get("identifiers", [])):
        default = ... if ids_required else None
        fields[f"id{j}"] = (IdValue if ids_required else IdValue | None, Field(default, alias=name, description="Identifier: echoed back, logged, and hashed for the control group."))
    if value_column is not None and value_column not in names:
        fields["v0"] = (Annotated[float, Strict(), Field(allow_inf_nan=False)], Field(..., alias=value_column, description="Per-row value used by the KPI economics."))
    config = ConfigDict(extra="ignore", populate_by_name=False, title="Row")
    return create_model("Row", __config__=config, **fields)


class Reason(BaseModel):
    """One driver of a row's score: the feature, its value and its signed effect on the score."""

    feature: str
    value: Any = None
    effect: float = Field(description="Signed contribution to the score (positive pushes the score up).")
    text: str | None = None


class Prediction(BaseModel):
    row: int = Field(description="Position of the row in the request (0 for a single row).")
    identifiers: dict[str, str | int | None] = Field(default_factory=dict)
    score: float = Field(description="Calibrated probability of the positive class (binary), of the top class (multiclass), or the predicted value (regression).")
    decision: int | str | None = Field(description="1 = act, 0 = do not act (binary); the class label (multiclass).")
    expected_value: float | None = Field(description="Expected net value of acting on this row under the KPI economics; null without economics.")
    control: bool = Field(description="Held out as control: the model would act, but the decision is 0 so the KPI impact can be measured.")
    reasons: list[Reason] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="What was accepted but is worth knowing (values outside the training range, unseen categories).")
    model_version: str


class PredictResponse(BaseModel):
    request_id: str
    model_version: str
    predictions: list[Prediction]


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: a message (or the list of invalid fields) and the request id."""

    detail: str | list[ErrorItem]
    request_id: str | None = None


class Health(BaseModel):
    status: Literal["ok"]
    model_version: str
    uptime_seconds: float


class ModelInfo(BaseModel):
    version: str
    source: str
    problem: str
    kpi: dict[str, Any] | None
    operating_point: dict[str, Any]
    decision_rule: str
    training_metrics: dict[str, Any]
    input_contract: dict[str, Any]
    loaded_at: str
    holdout: float
