"""Raw event tables to training snapshots: one row per (entity, cutoff), point in time.

`build_snapshots(spec)` runs the DuckDB SQL; `SnapshotSpec` holds the options shared by the
CLI and the spec; `read_snapshot_info` lets later stages recognise a snapshot table.
"""

from kpiml.snapshots.build import SnapshotResult, build_snapshots
from kpiml.snapshots.info import (
    LeakageSuspect,
    SnapshotInfo,
    holdout_mask,
    leakage_suspects,
    read_snapshot_info,
    time_folds,
)
from kpiml.snapshots.options import (
    EntityTable,
    EventTable,
    LabelDefinition,
    SnapshotSpec,
    snapshot_spec_from_dict,
)

__all__ = [
    "EntityTable",
    "EventTable",
    "LabelDefinition",
    "LeakageSuspect",
    "SnapshotInfo",
    "SnapshotResult",
    "SnapshotSpec",
    "build_snapshots",
    "holdout_mask",
    "leakage_suspects",
    "read_snapshot_info",
    "snapshot_spec_from_dict",
    "time_folds",
]
