"""SnapshotSpec validation, shared by the CLI and the spec."""

from __future__ import annotations

from typing import Any

import pytest

from kpiml.errors import KpimlError
from kpiml.snapshots.options import SnapshotSpec, output_path, snapshot_spec_from_dict


def raw(**changes: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "entities": {"source": "e.csv", "id_column": "customer_id"},
        "events": [{"source": "v.csv", "time_column": "ts"}],
        "label": {"event": "cancel", "horizon_days": 30},
        "out": "s.parquet",
    }
    options.update(changes)
    return options


def test_defaults_are_monthly_cutoffs_and_four_windows() -> None:
    """Check that a minimal spec gets monthly cutoffs and the 7/30/90/180-day windows."""
    spec = snapshot_spec_from_dict(raw())
    assert spec.cutoffs == "monthly" and spec.windows == [7, 30, 90, 180]
    assert spec.label.describe() == "1 when a 'cancel' event happens in (cutoff, cutoff + 30 days]"


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"label": {"horizon_days": 30}}, KpimlError, "exactly one of label event"),
        ({"label": {"event": "x", "inactive_days": 9, "horizon_days": 30}}, KpimlError, "exactly one of label event"),
        ({"label": {"inactive_days": 0, "horizon_days": 30}}, KpimlError, "inactive_days.*greater than or equal to 1"),
        ({"events": []}, KpimlError, "events.*at least 1"),
        ({"windows": [0, 30]}, KpimlError, "at least 1 day"),
        ({"entities": {"source": "e.csv", "id_column": "cutoff"}}, KpimlError, "the snapshot table writes itself"),
        ({"cutoffs": []}, KpimlError, "at least one cutoff"),
        ({"colour": "red"}, KpimlError, "colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_options_raise_kpiml_errors(changes: dict[str, Any], error: type, message: str) -> None:
    """Check that invalid options raise a KpimlError naming the option."""
    with pytest.raises(error, match=message):
        snapshot_spec_from_dict(raw(**changes))


def test_output_must_be_parquet() -> None:
    """Check that the output name must end in .parquet and be given at all."""
    with pytest.raises(KpimlError, match=r"use --out s\.parquet"):
        output_path(snapshot_spec_from_dict(raw(out="s.csv")))
    with pytest.raises(KpimlError, match="No output file"):
        output_path(snapshot_spec_from_dict(raw(out=None)))


def test_spec_round_trips_through_json() -> None:
    """Check that a SnapshotSpec dumps to JSON and validates back unchanged (for embedding in kpiml.yaml)."""
    spec = snapshot_spec_from_dict(raw(cutoffs=["2024-02-01", "2024-01-01"], windows=[30, 7, 30]))
    assert SnapshotSpec.model_validate(spec.model_dump(mode="json")) == spec
    assert [d.isoformat() for d in spec.cutoffs] == ["2024-01-01", "2024-02-01"] and spec.windows == [7, 30]
