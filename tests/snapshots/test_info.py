"""What later stages read from a snapshot table: its description, the split, leakage suspects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpiml.snapshots import (
    build_snapshots,
    holdout_mask,
    leakage_suspects,
    read_snapshot_info,
    snapshot_spec_from_dict,
    time_folds,
)
from kpiml.snapshots.simulate import Simulation

CUTOFFS = pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-04-15"] * 2))


def test_holdout_embargoes_rows_whose_label_reaches_the_holdout() -> None:
    """Check that training rows end their label window before the first hold-out cutoff."""
    train, test = holdout_mask(CUTOFFS, horizon_days=30, holdout_cutoffs=1)
    assert set(CUTOFFS[test].dt.date.astype(str)) == {"2024-04-15"}
    assert set(CUTOFFS[train].dt.date.astype(str)) == {"2024-01-01", "2024-02-01", "2024-03-01"}


def test_time_folds_expand_and_never_look_ahead() -> None:
    """Check that each fold validates one later cutoff on embargoed earlier ones."""
    folds = time_folds(CUTOFFS, horizon_days=30, n_folds=2)
    assert len(folds) == 2
    for train, valid in folds:
        assert (CUTOFFS[train] + pd.Timedelta(days=30)).max() <= CUTOFFS[valid].min()


def test_holdout_needs_more_cutoffs_than_it_holds_out() -> None:
    """Check that holding out every cutoff is refused."""
    with pytest.raises(ValueError, match="more than 1 cutoff"):
        holdout_mask(pd.Series(pd.to_datetime(["2024-01-01"] * 3)), 30)


@pytest.fixture(scope="module")
def snapshots(sim: Simulation, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """Snapshots of the simulated business at four cutoffs."""
    folder = tmp_path_factory.mktemp("info")
    sim.entities.to_parquet(folder / "entities.parquet")
    sim.events.to_parquet(folder / "events.parquet")
    out = folder / "snapshots.parquet"
    build_snapshots(snapshot_spec_from_dict({
        "entities": {"source": str(folder / "entities.parquet"), "id_column": "customer_id", "time_column": "signup_date"},
        "events": [{"source": str(folder / "events.parquet"), "time_column": "event_time", "type_column": "event_type"}],
        "label": {"event": "cancel", "horizon_days": 30},
        "cutoffs": [date(2024, 2, 1), date(2024, 5, 1), date(2024, 8, 1), date(2024, 11, 1)],
        "out": str(out),
    }))
    return pd.read_parquet(out), out


def test_leaky_feature_is_flagged(snapshots: tuple[pd.DataFrame, Path], sim: Simulation, logins_after_cutoff: Callable[..., np.ndarray]) -> None:
    """Check that a column using events after the cutoff is a leakage suspect and built features are not."""
    table, path = snapshots
    info = read_snapshot_info(path)
    assert info is not None
    leaky = table.assign(logins_next_30d=logins_after_cutoff(table, sim.events))
    suspects = leakage_suspects(leaky, info)
    assert [s.column for s in suspects] == ["logins_next_30d"]
    assert "after the cutoff" in suspects[0].reason and suspects[0].auc > 0.8


def test_honest_extra_column_is_not_flagged(snapshots: tuple[pd.DataFrame, Path]) -> None:
    """Check that an added column with no more signal than the built features is not a suspect."""
    table, path = snapshots
    info = read_snapshot_info(path)
    assert info is not None
    noisy = table.assign(noise=np.random.default_rng(0).normal(size=len(table)), logins_copy=table["login_count_30d"])
    assert leakage_suspects(noisy, info) == []


def test_other_parquet_files_are_not_snapshots(tmp_path: Path, spec_dict: Callable[..., dict]) -> None:
    """Check that a Parquet file without the snapshot description reads as no snapshot info."""
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "plain.parquet")
    assert read_snapshot_info(tmp_path / "plain.parquet") is None
    assert read_snapshot_info(tmp_path / "missing.parquet") is None
