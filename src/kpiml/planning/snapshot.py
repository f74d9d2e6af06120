"""Plan decisions for a snapshot table: one row per (entity, cutoff), label from the horizon after it.

Such a table breaks the assumptions of a random split twice: the same entity appears at
many cutoffs, and a row's label looks into the period later rows' features come from. So
the plan recognises it (from the description `kpiml snapshots` writes into the Parquet
file, or from a `cutoff` date column next to a repeating entity id), validates on later
cutoffs of other entities with an embargo of the label horizon, and screens added columns
for information from after the cutoff.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kpiml.data.profile import LeakageSuspect
from kpiml.data.roles import is_entity_column
from kpiml.errors import KpimlError
from kpiml.spec import KpiBlock, SnapshotBlock, SnapshotFeature, SplitBlock

CUTOFF = "cutoff"
LABEL = "label"
_CHURN_WORDS = ("cancel", "churn", "close", "terminat", "inactiv", "days without")


def detect_snapshot(location: str | Path, frame: pd.DataFrame, query: str | None = None) -> SnapshotBlock | None:
    """The snapshot description of the table: from its Parquet metadata, else from its columns."""
    from kpiml.snapshots.info import read_snapshot_info

    info = read_snapshot_info(location) if query is None and "://" not in str(location) else None
    if info is not None and {info.entity_id, info.cutoff_column} <= set(frame.columns):
        return SnapshotBlock(
            entity_column=info.entity_id, cutoff_column=info.cutoff_column, label_column=info.label_column,
            horizon_days=info.horizon_days, label_definition=info.label_definition, cutoffs=info.cutoffs,
            windows=info.windows, window_reason=info.window_reason,
            features=[SnapshotFeature(name=f["name"], reason=f.get("reason", ""), duration=bool(f.get("duration", False))) for f in info.features],
            reason=f"Recognised as a snapshot table from the description `kpiml snapshots` wrote into {Path(location).name}: one row per ('{info.entity_id}', '{info.cutoff_column}'), features from events before the cutoff, label {info.label_definition}.",
        )
    return _from_columns(frame)


def _from_columns(frame: pd.DataFrame) -> SnapshotBlock | None:
    """A `cutoff` date column plus an id column that repeats across cutoffs, unique per (id, cutoff)."""
    if CUTOFF not in frame.columns or not pd.api.types.is_datetime64_any_dtype(frame[CUTOFF]):
        return None
    for name in frame.columns:
        col = frame[name]
        if name in (CUTOFF, LABEL) or not is_entity_column(str(name), col, int(col.nunique()), int(col.notna().sum())):
            continue
        if not frame.duplicated([name, CUTOFF]).any():
            cutoffs = sorted(pd.to_datetime(frame[CUTOFF].dropna().unique()))
            return SnapshotBlock(
                entity_column=str(name), cutoffs=[c.date().isoformat() for c in cutoffs],
                reason=f"Recognised as a snapshot table by its columns: a '{CUTOFF}' date with {len(cutoffs)} values and entity id '{name}' with one row per (entity, cutoff). The file carries no `kpiml snapshots` description, so the label horizon and which columns were built point in time are unknown.",
            )
    return None


def has_snapshot_description(location: str | Path | None) -> bool:
    """Whether a file carries the `kpiml snapshots` description (its label is then the default target)."""
    from kpiml.snapshots.info import read_snapshot_info

    return location is not None and "://" not in str(location) and read_snapshot_info(location) is not None


def snapshot_target(target: str | None, snapshot: SnapshotBlock | None, frame: pd.DataFrame, source: str) -> str:
    """The target column: as given, else the snapshot table's label column."""
    if target is not None:
        return target
    if snapshot is None:
        raise KpimlError(f"No target column given for {source}", expected="--target COL (only a snapshot table from `kpiml snapshots` has a default target, its 'label')", fix="add --target with the column to predict")
    if snapshot.label_column not in frame.columns:
        raise KpimlError(f"Snapshot table {source} has no '{snapshot.label_column}' column to predict", expected=f"a '{snapshot.label_column}' column", got=", ".join(map(str, frame.columns[:10])), fix="add --target with the column to predict")
    return snapshot.label_column


def cutoff_gap_days(frame: pd.DataFrame, snapshot: SnapshotBlock) -> float:
    """Largest gap between consecutive cutoffs, in days (0 with a single cutoff)."""
    distinct = np.sort(pd.to_datetime(frame[snapshot.cutoff_column]).dropna().unique())
    return float(np.diff(distinct).max() / np.timedelta64(1, "D")) if len(distinct) > 1 else 0.0


def snapshot_split(frame: pd.DataFrame, snapshot: SnapshotBlock, holdout: float, folds: int, sizes: str) -> SplitBlock:
    """Time-ordered by cutoff, entities grouped, embargoed by the label horizon.

    Without a known horizon the embargo is the largest gap between cutoffs: a label window
    no longer than the cutoff spacing (the usual monthly cutoffs, 30-day label) is covered.
    """
    cutoffs = pd.to_datetime(frame[snapshot.cutoff_column])
    times = np.sort(cutoffs.dropna().unique())
    first_held = np.quantile(times.astype("int64"), 1 - holdout, method="higher") if len(times) else 0
    before = int((times.astype("int64") < first_held).sum())
    k = min(folds, before - 1)
    entity, cut = snapshot.entity_column, snapshot.cutoff_column
    if k < 2:
        return SplitBlock(strategy="grouped", holdout=holdout, folds=folds, group_column=entity,
                          reason=f"Only {len(times)} cutoff(s): too few to validate on later cutoffs with {folds} folds, so folds are grouped by '{entity}' only. Build more cutoffs (`kpiml snapshots --cutoffs monthly`) for an honest time-ordered validation. {sizes}.")
    embargo = float(snapshot.horizon_days) if snapshot.horizon_days else cutoff_gap_days(frame, snapshot)
    why_embargo = f"the label horizon of {snapshot.horizon_days} days" if snapshot.horizon_days else f"{embargo:g} days, the largest gap between cutoffs, because the label horizon is unknown (set it if the label looks further ahead)"
    folds_note = f" ({k} folds: the cutoffs before the hold-out allow no more)" if k < folds else ""
    return SplitBlock(
        strategy="time", holdout=holdout, folds=k, time_column=cut, group_column=entity, embargo_days=embargo,
        reason=(f"Snapshot table: validated only on later '{cut}' values than the model trained on (hold-out = the latest {holdout:.0%} of rows; expanding-window folds{folds_note}), "
                f"with each '{entity}' on one side only (the hold-out and each fold validate a random share of entities the model never trained on), "
                f"and an embargo of {why_embargo}: a training row whose label window (cutoff, cutoff + {embargo:g} days] reaches the validation period is dropped. "
                f"So no model is validated on a period or an entity it has seen. {sizes}."),
    )


def snapshot_leakage(frame: pd.DataFrame, snapshot: SnapshotBlock, target: str, y: np.ndarray, flagged: set[str]) -> list[LeakageSuspect]:
    """Columns that separate the label far better than the point-in-time features do."""
    from kpiml.snapshots.info import separation_suspects

    if len(np.unique(y)) != 2:
        return []
    table = frame.drop(columns=[target]).assign(**{"__label": y})
    known = {f.name for f in snapshot.features} if snapshot.features else None
    found = separation_suspects(table, "__label", {snapshot.entity_column, snapshot.cutoff_column, "__label"}, known)
    return [LeakageSuspect(column=s.column, kind="after_cutoff", score=round(s.auc, 4), evidence=s.reason) for s in found if s.column not in flagged]


def snapshot_kpi(kpi: KpiBlock, snapshot: SnapshotBlock) -> KpiBlock:
    """The churn template when the label definition reads as churn (the target is called 'label')."""
    words = snapshot.label_definition.lower()
    if kpi.template not in ("none", "custom") or not any(w in words for w in _CHURN_WORDS):
        return kpi
    return kpi.model_copy(update={"name": "customer churn", "template": "churn", "direction": "reduce",
                                  "reason": f"The snapshot label is {snapshot.label_definition}: customer churn, so the churn template applies. No economics were given, so models are ranked by ROC-AUC until kpi.economics is filled."})


def built_features(snapshot: SnapshotBlock | None) -> dict[str, SnapshotFeature]:
    """The features `kpiml snapshots` built, by column name (empty for other tables)."""
    return {f.name: f for f in snapshot.features} if snapshot else {}
