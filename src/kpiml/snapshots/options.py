"""What a snapshot build needs, as one pydantic model shared by the CLI and the spec.

`kpiml snapshots` fills a :class:`SnapshotSpec` from its flags and the spec can embed the
same model under a `snapshots:` block, so both paths are validated by one set of rules and
produce the same table. Pydantic's messages are turned into :class:`KpimlError` so a user
sees which option was wrong and how to fix it, never a validation traceback.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from kpiml.errors import KpimlError
from kpiml.spec import StrictModel

DEFAULT_WINDOWS = [7, 30, 90, 180]
RESERVED_COLUMNS = ("cutoff", "label")


class EntityTable(StrictModel):
    """The table with one row per entity (customer, account, device)."""

    source: str = Field(description="CSV/Parquet file or folder, or database URL ('URL#table').")
    table: str | None = Field(default=None, description="Table name inside a database source.")
    id_column: str = Field(description="Entity id column; the event tables use the same name.")
    time_column: str | None = Field(default=None, description="Signup/creation time; tenure starts here.")

    @field_validator("id_column")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_COLUMNS:
            raise ValueError(f"'{value}' is a column the snapshot table writes itself; rename the id column")
        return value


class EventTable(StrictModel):
    """One table of timestamped events (logins, tickets, payments, cancellations, ...)."""

    source: str = Field(description="CSV/Parquet file or folder, or database URL ('URL#table').")
    table: str | None = Field(default=None, description="Table name inside a database source.")
    time_column: str
    type_column: str | None = Field(default=None, description="Without it, every event has the table's name as type.")
    value_column: str | None = Field(default=None, description="Numeric amount summed and averaged per type.")
    name: str | None = Field(default=None, description="Event type of an untyped table; default: file or table name.")


class LabelDefinition(StrictModel):
    """What counts as the KPI event, and how far ahead it is predicted."""

    event: str | None = Field(default=None, description="Terminal event type, e.g. 'cancel'.")
    inactive_days: int | None = Field(default=None, ge=1, description="Churn = this many days without events.")
    horizon_days: int = Field(ge=1, description="Label is 1 when churn happens in (cutoff, cutoff + horizon].")

    @model_validator(mode="after")
    def _exactly_one(self) -> LabelDefinition:
        if (self.event is None) == (self.inactive_days is None):
            raise ValueError("give exactly one of label event (--label-event) or inactivity (--label-inactive-days)")
        return self

    def describe(self) -> str:
        """Say in words what label = 1 means, for the plan and the table's metadata."""
        what = f"a '{self.event}' event" if self.event else f"{self.inactive_days} days without any event"
        return f"1 when {what} happens in (cutoff, cutoff + {self.horizon_days} days]"


class SnapshotSpec(StrictModel):
    """Everything `kpiml snapshots` needs to turn raw event tables into a training table."""

    entities: EntityTable
    events: list[EventTable] = Field(min_length=1)
    label: LabelDefinition
    cutoffs: Literal["monthly"] | list[date] = "monthly"
    windows: list[int] = Field(default_factory=lambda: list(DEFAULT_WINDOWS), min_length=1)
    out: str | None = Field(default=None, description="Output parquet file.")
    memory_limit: str = Field(default="4GB", description="DuckDB memory limit; larger work spills to disk.")
    threads: int | None = Field(default=None, ge=1, description="DuckDB threads (default: all cores).")

    @field_validator("windows")
    @classmethod
    def _positive_windows(cls, value: list[int]) -> list[int]:
        if any(w < 1 for w in value):
            raise ValueError("every window must be at least 1 day")
        return sorted(set(value))

    @field_validator("cutoffs")
    @classmethod
    def _sorted_cutoffs(cls, value: Any) -> Any:
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one cutoff date, or 'monthly'")
            return sorted(set(value))
        return value


def snapshot_spec_from_dict(raw: dict[str, Any], source: str = "kpiml snapshots options") -> SnapshotSpec:
    """Validate raw options into a SnapshotSpec, turning pydantic errors into a KpimlError."""
    try:
        return SnapshotSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            path = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{path}: {err['msg']} (got {err.get('input')!r})")
        raise KpimlError(
            f"The {source} are not valid: " + "; ".join(problems),
            expected="options as `kpiml snapshots --help` describes them",
            fix="correct the option(s) named above",
        ) from None


def output_path(spec: SnapshotSpec) -> Path:
    """The parquet file to write, refusing anything but a .parquet name (the contract)."""
    if not spec.out:
        raise KpimlError("No output file given", expected="--out FILE.parquet", fix="add --out snapshots.parquet")
    path = Path(spec.out)
    if path.suffix.lower() != ".parquet":
        raise KpimlError(
            f"Output {path} is not a .parquet file",
            expected="a file name ending in .parquet",
            got=path.name,
            fix=f"use --out {path.with_suffix('.parquet')}",
        )
    return path
