"""Tests of kpiml.monitoring.run: the acceptance cases of issue 7 on wa_churn, end to end."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from kpiml.monitoring import build_reference, infer_contract, live_quality, monitor
from kpiml.monitoring.thresholds import Thresholds
from kpiml.spec import MonitoringBlock

from .conftest import churn_score, move_category, shift_numeric

T = Thresholds.from_spec(MonitoringBlock())


@pytest.mark.parametrize("seed", range(6))
def test_iid_holdout_is_ok(split_churn, seed: int) -> None:
    """Check that monitoring the i.i.d. 30 % hold-out (features, scores, contract, outcomes) gives ok."""
    tr, te, ytr, yte = split_churn(seed)
    ref = build_reference(tr, churn_score(tr))
    live = live_quality(yte.to_numpy(), churn_score(te), reference_auc=roc_auc_score(ytr, churn_score(tr)))
    result = monitor(ref, te, scores=churn_score(te), contract=infer_contract(tr), thresholds=T, live=live)
    assert result.verdict.level == "ok", [r.message for r in result.verdict.reasons]
    assert result.exit_code == 0 and result.rows == len(te)


def test_half_sd_shift_is_retrain_naming_that_column(churn_setup: tuple) -> None:
    """Check that a 0.5 sd shift of monthly_charges gives retrain, exit code 1, naming only monthly_charges."""
    ref, contract, tr, te, _ = churn_setup
    new = shift_numeric(te, "monthly_charges", 0.5, tr["monthly_charges"].std())
    result = monitor(ref, new, scores=churn_score(new), contract=contract, thresholds=T)
    assert result.verdict.level == "retrain" and result.exit_code == 1
    assert result.verdict.columns("retrain") == ["monthly_charges"]
    assert result.verdict.columns("watch") == ["monthly_charges"]


@pytest.mark.parametrize("sd_units", [-0.5, 0.5])
def test_half_sd_shift_of_tenure_either_way(churn_setup: tuple, sd_units: float) -> None:
    """Check that a 0.5 sd shift of tenure up or down names tenure alone."""
    ref, contract, tr, te, _ = churn_setup
    new = shift_numeric(te, "tenure", sd_units, tr["tenure"].std())
    result = monitor(ref, new, scores=churn_score(new), contract=contract, thresholds=T)
    assert result.verdict.level == "retrain" and result.verdict.columns() == ["tenure"]


def test_category_share_move_is_retrain_naming_that_column(churn_setup: tuple) -> None:
    """Check that moving contract's Month-to-month share by 20 points gives retrain naming only contract."""
    ref, contract, _, te, _ = churn_setup
    new = move_category(te, "contract", "Month-to-month", 0.20)
    result = monitor(ref, new, scores=churn_score(new), contract=contract, thresholds=T)
    assert result.verdict.level == "retrain"
    assert result.verdict.columns() == ["contract"]


def test_resampled_rows_also_move_correlated_columns(churn_setup: tuple) -> None:
    """Check that resampling whole rows to move contract by 20 points puts contract first among the
    retrain columns (tenure, correlated with contract, really moves too and is named as well)."""
    ref, contract, _, te, _ = churn_setup
    m2m = (te["contract"] == "Month-to-month").to_numpy()
    p0 = m2m.mean()
    w = np.where(m2m, (p0 + 0.2) / p0, (0.8 - p0) / (1 - p0))
    new = te.sample(len(te), replace=True, weights=w, random_state=0)
    result = monitor(ref, new, scores=churn_score(new), contract=contract, thresholds=T)
    top = max(result.drift.columns, key=lambda c: c.distance)
    assert result.verdict.level == "retrain" and top.column == "contract" and "contract" in result.verdict.columns("retrain")


def test_result_round_trips_through_json(churn_setup: tuple) -> None:
    """Check that a result dumps to JSON and loads back equal (monitor.json is its dump)."""
    from kpiml.monitoring import MonitorResult

    ref, contract, _, te, _ = churn_setup
    result = monitor(ref, te, scores=churn_score(te), contract=contract, thresholds=T, model="m", source="new.csv")
    assert MonitorResult.model_validate_json(result.model_dump_json()) == result


def test_live_quality_uses_untreated_rows_weighted() -> None:
    """Check that live AUC from untreated rows (control re-weighted) matches the AUC had nobody been
    treated, where the AUC on all rows is biased down by a working treatment."""
    from kpiml.monitoring import simulate_campaign
    from kpiml.monitoring.run import outcome_sections

    f = simulate_campaign(30_000, 0.25, 0.15, 0.2, 0).frame
    truth = roc_auc_score(f["churn_untreated"], f["score"])
    live, impact = outcome_sections(f["churn"], f["score"], act=f["act"], control=f["control"], expected_value=np.full(len(f), 20.0),
                                    outcome_value=-200.0, treatment_cost=10.0)
    assert live.auc == pytest.approx(truth, abs=3 * live.auc_se)  # type: ignore[operator]
    assert roc_auc_score(f["churn"], f["score"]) < truth - 0.03
    assert impact is not None and impact.incremental_value is not None
    assert live.realised_profit == impact.incremental_value.estimate and live.forecast_profit == 20.0 * impact.treated_rows


def test_without_control_live_quality_uses_every_row() -> None:
    """Check that without a control group live quality covers all rows and there is no impact."""
    from kpiml.monitoring.run import outcome_sections

    rng = np.random.default_rng(0)
    s = rng.random(500)
    live, impact = outcome_sections((rng.random(500) < s).astype(int), s, act=s > 0.7)
    assert impact is None and live.rows == 500 and live.acted_rows == int((s > 0.7).sum())
