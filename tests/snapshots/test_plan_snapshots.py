"""`kpiml plan` on a snapshot table: recognised, split by cutoff with entities grouped, leaks flagged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from kpiml.cli import main
from kpiml.errors import KpimlError
from kpiml.snapshots import build_snapshots, snapshot_spec_from_dict
from kpiml.snapshots.simulate import Simulation
from kpiml.spec import load_spec, spec_from_dict


@pytest.fixture(scope="module")
def table(sim: Simulation, sim_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Monthly snapshots (30-day cancellation label) of the simulated business, as `kpiml snapshots` writes them."""
    out = tmp_path_factory.mktemp("plan") / "snapshots.parquet"
    build_snapshots(snapshot_spec_from_dict({
        "entities": {"source": str(sim_files["entities"]), "id_column": "customer_id", "time_column": "signup_date"},
        "events": [{"source": str(sim_files["events"]), "time_column": "event_time", "type_column": "event_type", "value_column": "amount"}],
        "label": {"event": "cancel", "horizon_days": 30},
        "out": str(out),
        "threads": 2,
    }))
    return out


def _plan(args: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        main(["plan", *args])
    return int(stop.value.code or 0)


@pytest.fixture(scope="module")
def planned(table: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`kpiml plan TABLE` without --target."""
    out = tmp_path_factory.mktemp("planned")
    assert _plan([str(table), "--out", str(out)]) == 0
    return out


def test_plan_defaults_to_label_and_a_grouped_time_split_with_embargo(planned: Path) -> None:
    """Check that the plan predicts `label`, splits by cutoff grouped by customer with a 30-day embargo, and keeps keys out of the features."""
    spec = load_spec(planned / "kpiml.yaml")
    assert spec.target.column == "label" and spec.target.positive == "1"
    assert (spec.split.strategy, spec.split.time_column, spec.split.group_column, spec.split.embargo_days) == ("time", "cutoff", "customer_id", 30)
    uses = {c.name: c.use for c in spec.columns}
    assert uses["customer_id"] == "group" and uses["cutoff"] == "time"
    assert spec.kpi.template == "churn"  # the label definition names a cancellation


def test_plan_lists_windows_and_features_with_reasons(planned: Path, table: Path) -> None:
    """Check that the spec's snapshot block and plan.md list the windows and every built feature with why."""
    spec = load_spec(planned / "kpiml.yaml")
    assert spec.snapshot is not None and spec.snapshot.horizon_days == 30
    assert spec.snapshot.windows == [7, 30, 90, 180]
    built = [c for c in pq.read_schema(table).names if c not in ("customer_id", "cutoff", "label")]
    assert [f.name for f in spec.snapshot.features] == built
    assert all(f.reason for f in spec.snapshot.features)
    plan = (planned / "plan.md").read_text(encoding="utf-8")
    assert "### Snapshot table" in plan and "7, 30, 90, 180 days" in plan and "embargo 30 days" in plan
    reason = next(f.reason for f in spec.snapshot.features if f.name == "login_count_30d")
    assert f"| `login_count_30d` | {reason} |" in plan



def test_durations_bend_for_linear_models_at_a_month_quarter_half_year_and_year(planned: Path) -> None:
    """Check that tenure and days-since features are planned with hinges at 30/90/180/365 days (with why), and counts get none."""
    spec = load_spec(planned / "kpiml.yaml")
    assert spec.snapshot is not None
    durations = {f.name for f in spec.snapshot.features if f.duration}
    assert {"tenure_days", "login_days_since_last", "days_since_last_event"} <= durations
    assert not {"login_count_30d", "login_share_90d"} & durations
    plans = {c.name: c for c in spec.columns}
    assert all(plans[name].hinges == [30, 90, 180, 365] and plans[name].outliers != "log1p" for name in durations)
    assert "A duration: linear models get bends at 30, 90, 180 and 365 days" in plans["tenure_days"].reason
    assert not plans["login_count_30d"].hinges and "A duration" not in plans["login_count_30d"].reason


def _with_column(table: Path, out: Path, name: str, values: np.ndarray, keep_description: bool) -> Path:
    """The table plus one column: through pyarrow (description kept) or pandas (description lost)."""
    if keep_description:
        pq.write_table(pq.read_table(table).append_column(name, pa.array(values)), out)
    else:
        pd.read_parquet(table).assign(**{name: values}).to_parquet(out, index=False)
    return out


@pytest.mark.parametrize("keep_description", [True, False], ids=["with-description", "pandas-rewrite"])
def test_leaky_feature_is_flagged_and_excluded(table: Path, sim: Simulation, tmp_path: Path, keep_description: bool,
                                               logins_after_cutoff: Callable[..., np.ndarray]) -> None:
    """Check that logins in the 30 days after the cutoff are a leakage suspect, excluded, while honest columns are kept."""
    frame = pd.read_parquet(table)
    leaky = _with_column(table, tmp_path / "leaky.parquet", "logins_next_30d", logins_after_cutoff(frame, sim.events), keep_description)
    out = tmp_path / "plan"
    assert _plan([str(leaky), "--target", "label", "--out", str(out)]) == 0
    spec = load_spec(out / "kpiml.yaml")
    excluded = {c.name for c in spec.columns if c.use == "exclude"}
    assert "logins_next_30d" in excluded
    assert not excluded & {"login_count_30d", "ticket_count_90d", "payment_failure_count_180d", "tenure_days"}
    assert any(r.title == "Leakage suspect: logins_next_30d" and r.severity == "high" for r in spec.risks)
    assert "after the cutoff" in (out / "plan.md").read_text(encoding="utf-8")
    assert (spec.snapshot is not None) and (bool(spec.snapshot.features) == keep_description)


def test_table_without_description_is_recognised_by_its_columns(table: Path, tmp_path: Path) -> None:
    """Check that a rewritten snapshot table still gets the grouped time split, the embargo then being the cutoff spacing."""
    plain = tmp_path / "plain.parquet"
    pd.read_parquet(table).to_parquet(plain, index=False)
    out = tmp_path / "plan"
    assert _plan([str(plain), "--target", "label", "--out", str(out)]) == 0
    spec = load_spec(out / "kpiml.yaml")
    assert (spec.split.strategy, spec.split.group_column, spec.split.embargo_days) == ("time", "customer_id", 31)
    assert "horizon is unknown" in spec.split.reason


def test_target_is_required_for_other_tables(tmp_path: Path) -> None:
    """Check that only a table with the snapshot description may leave out --target."""
    plain = tmp_path / "t.parquet"
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_parquet(plain)
    assert _plan([str(plain), "--out", str(tmp_path / "o")]) == 2


def test_spec_snapshot_block_is_optional_and_checked(planned: Path) -> None:
    """Check that a spec without the snapshot block still loads and one naming a missing column is refused."""
    raw = yaml.safe_load((planned / "kpiml.yaml").read_text(encoding="utf-8"))
    without = {k: v for k, v in raw.items() if k != "snapshot"}
    assert spec_from_dict(without).snapshot is None
    raw["snapshot"]["entity_column"] = "account"
    with pytest.raises(KpimlError, match=r"snapshot\.entity_column names 'account'"):
        spec_from_dict(raw)
    raw["snapshot"]["entity_column"] = "customer_id"
    raw["snapshot"]["colour"] = "blue"
    with pytest.raises(KpimlError, match=r"snapshot\.colour: unknown key"):
        spec_from_dict(raw)
