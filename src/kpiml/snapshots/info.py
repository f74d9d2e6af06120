"""What later stages need to know about a snapshot table, read from the Parquet file itself.

`kpiml snapshots` stores its description (entity id, cutoff and label columns, horizon,
features with reasons, the split it calls for) in the Parquet key-value metadata, so
`kpiml plan` and `kpiml train` recognise a snapshot table from the file alone. This module
reads that description and offers the two decisions that follow from it: a time-ordered
split with an embargo, and a leakage screen for columns the builder did not make.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

METADATA_KEY = b"kpiml.snapshot"


@dataclass(frozen=True)
class SnapshotInfo:
    """The description `kpiml snapshots` wrote into a snapshot table."""

    entity_id: str
    cutoff_column: str
    label_column: str
    horizon_days: int
    label_definition: str
    cutoffs: list[str]
    windows: list[int]
    features: list[dict[str, Any]]  # name, reason, and duration: true for days-since features
    split: dict[str, str] = field(default_factory=dict)
    window_reason: str = ""

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.features]


def read_snapshot_info(path: str | Path) -> SnapshotInfo | None:
    """The snapshot description of a Parquet file, or None for any other table."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix.lower() != ".parquet" or not path.is_file():
        return None
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY)
    return info_from_json(raw.decode("utf-8")) if raw else None


def info_from_json(text: str) -> SnapshotInfo:
    """Parse the stored JSON description (also used by tests and the spec)."""
    data: dict[str, Any] = json.loads(text)
    return SnapshotInfo(
        entity_id=data["entity_id"],
        cutoff_column=data["cutoff_column"],
        label_column=data["label_column"],
        horizon_days=int(data["label"]["horizon_days"]),
        label_definition=data["label_definition"],
        cutoffs=list(data["cutoffs"]),
        windows=list(data["windows"]),
        features=list(data["features"]),
        split=dict(data.get("split", {})),
        window_reason=str(data.get("window_reason", "")),
    )


def holdout_mask(cutoffs: pd.Series, horizon_days: int, holdout_cutoffs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, hold-out): the last cutoffs held out, with an embargo.

    A training row at cutoff c has a label that looks at (c, c + horizon]; if that period
    reaches past the first hold-out cutoff, the model has seen the hold-out period.
    Such rows are dropped from training (the embargo), so validation is honest.
    """
    times = pd.to_datetime(cutoffs)
    distinct = np.sort(times.unique())
    if len(distinct) <= holdout_cutoffs:
        raise ValueError(f"need more than {holdout_cutoffs} cutoff(s) to hold out the last ones")
    first_test = distinct[-holdout_cutoffs]
    test = (times >= first_test).to_numpy()
    train = (times + pd.Timedelta(days=horizon_days) <= first_test).to_numpy()
    return train, test


def time_folds(cutoffs: pd.Series, horizon_days: int, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window folds over cutoffs: validate on a later cutoff, train on embargoed earlier ones.

    Every row of one cutoff is on one side, so an entity's rows never straddle the fold
    boundary within a period (entities are grouped by construction).
    """
    times = pd.to_datetime(cutoffs)
    distinct = np.sort(times.unique())
    folds = []
    for valid_cutoff in distinct[-n_folds:]:
        valid = (times == valid_cutoff).to_numpy()
        train = (times + pd.Timedelta(days=horizon_days) <= valid_cutoff).to_numpy()
        if train.any():
            folds.append((train, valid))
    return folds


@dataclass(frozen=True)
class LeakageSuspect:
    """A column that predicts the label suspiciously well, and why it is suspected."""

    column: str
    auc: float
    reason: str


def leakage_suspects(table: pd.DataFrame, info: SnapshotInfo, margin: float = 0.05) -> list[LeakageSuspect]:
    """Columns not built by `kpiml snapshots` that beat every point-in-time feature.

    The builder's features use only events before the cutoff. A column added afterwards
    has unknown provenance; if it separates the label clearly better (by `margin` in AUC)
    than the best builder feature, it most likely uses information from after the
    cutoff (events in the label window, a status column updated later).
    """
    keys = {info.entity_id, info.cutoff_column, info.label_column}
    return separation_suspects(table, info.label_column, keys, set(info.feature_names), margin)


def separation_suspects(table: pd.DataFrame, label: str, keys: set[str], known: set[str] | None, margin: float = 0.05) -> list[LeakageSuspect]:
    """Numeric columns outside `known` that separate the label by `margin` AUC better than the reference.

    The reference is the best `known` (point-in-time) column; when nothing is known (a
    snapshot table that lost its description), it is the best of the *other* columns: a
    column that stands far above all the rest in a table of honest windows is the one that
    saw the future. Two leaky columns of equal strength hide each other in that case.
    """
    labelled = table[table[label].notna()]
    y = labelled[label].to_numpy().astype(int)
    if len(np.unique(y)) < 2:
        return []
    numeric = [c for c in labelled.columns if c not in keys and pd.api.types.is_numeric_dtype(labelled[c]) and not pd.api.types.is_bool_dtype(labelled[c])]
    aucs = {c: _separation(labelled[c], y) for c in numeric}
    out = []
    for c, a in sorted(aucs.items(), key=lambda kv: -kv[1]):
        if known is not None and c in known:
            continue
        pool = [v for k, v in aucs.items() if (k in known if known is not None else k != c)]
        best = max(pool, default=0.5)
        if a >= best + margin:
            ref = "any point-in-time feature" if known is not None else "any other column"
            out.append(LeakageSuspect(c, a, f"{'not made by kpiml snapshots and ' if known is not None else ''}separates the label far better (AUC {a:.3f}) than {ref} (best {best:.3f}); it probably uses data from after the cutoff"))
    return out


def _separation(values: pd.Series, y: np.ndarray) -> float:
    """AUC of one column against the label, folded so 0.5 is no signal and 1.0 is perfect."""
    from scipy.stats import rankdata

    x = values.to_numpy(dtype=float, na_value=np.nan)
    x = np.where(np.isnan(x), np.nanmedian(x) if np.isfinite(x).any() else 0.0, x)
    ranks = rankdata(x)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    auc = (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(max(auc, 1.0 - auc))
