"""Tests of kpiml.monitoring.verdict: levels and reasons from every source."""

from __future__ import annotations

from kpiml.monitoring.drift import ColumnDrift, DriftReport
from kpiml.monitoring.impact import Estimate, ImpactResult
from kpiml.monitoring.live import LiveQuality
from kpiml.monitoring.quality import QualityIssue, QualityReport
from kpiml.monitoring.thresholds import Thresholds
from kpiml.monitoring.verdict import decide

T = Thresholds()


def _drift(column: str, level: str) -> ColumnDrift:
    return ColumnDrift(column=column, kind="numeric", test="ks", rows=100, psi=0.3, distance=0.2, statistic=0.2, p_value=1e-9, p_adjusted=1e-9, level=level)  # type: ignore[arg-type]


def _live(rows: int, auc: float, beyond: bool) -> LiveQuality:
    return LiveQuality(rows=rows, positives=rows // 4, auc=auc, auc_se=0.02, brier=0.1, calibration=[], calibration_error=0.0,
                       reference_auc=0.85, auc_drop=0.85 - auc, drop_beyond_noise=beyond)


def _impact(low: float, high: float) -> ImpactResult:
    e = Estimate(estimate=(low + high) / 2, low=low, high=high, confidence=0.95)
    return ImpactResult(treated_rows=900, control_rows=100, rate_treated=0.2, rate_control=0.2, rate_difference=e, outcomes_changed=e, enough=True)


def test_nothing_found_is_ok() -> None:
    """Check that no reason gives ok with no reasons."""
    v = decide(T, drift=DriftReport(columns=[_drift("a", "ok")], correction="fdr_bh", alpha=0.001))
    assert (v.level, v.reasons) == ("ok", [])


def test_score_drift_alone_is_at_most_watch() -> None:
    """Check that a retrain-level score drift only makes a watch verdict and names no input column."""
    v = decide(T, drift=DriftReport(columns=[], score=_drift("score", "retrain"), correction="fdr_bh", alpha=0.001))
    assert v.level == "watch" and v.columns() == []


def test_reasons_are_sorted_and_name_columns() -> None:
    """Check that drift and quality reasons name their columns, most severe first."""
    drift = DriftReport(columns=[_drift("a", "watch"), _drift("b", "retrain")], correction="fdr_bh", alpha=0.001)
    quality = QualityReport(rows=10, columns=[], issues=[QualityIssue(column="c", check="missing_column", level="retrain", message="gone"),
                                                        QualityIssue(column="d", check="extra_column", level="ok", message="extra")])
    v = decide(T, drift=drift, quality=quality)
    assert v.level == "retrain" and [r.level for r in v.reasons] == ["retrain", "retrain", "watch"]
    assert v.columns("retrain") == ["b", "c"] and v.columns() == ["a", "b", "c"]


def test_live_drop_beyond_noise_is_retrain_within_noise_watch() -> None:
    """Check that an AUC drop past the threshold is retrain beyond noise and watch within it."""
    assert decide(T, live=_live(1_000, 0.75, True)).level == "retrain"
    assert decide(T, live=_live(1_000, 0.79, False)).level == "watch"
    assert decide(T, live=_live(1_000, 0.83, True)).level == "ok"


def test_too_few_outcomes_is_a_note() -> None:
    """Check that live quality below min_outcomes raises no level but leaves a note."""
    v = decide(T, live=_live(50, 0.6, True))
    assert v.level == "ok" and "only 50 outcomes" in v.notes[0]


def test_harmful_action_is_watch() -> None:
    """Check that acting which raised a KPI to reduce (interval wholly above 0) is a watch reason."""
    assert decide(T, impact=_impact(0.01, 0.05), direction="reduce").level == "watch"
    assert decide(T, impact=_impact(-0.05, -0.01), direction="reduce").level == "ok"
    assert decide(T, impact=_impact(-0.05, -0.01), direction="increase").level == "watch"


def test_reason_names_the_measure_that_fired() -> None:
    """Check that a drift reason records the measure (distance or PSI) and threshold that set its level."""
    by_distance = _drift("a", "retrain")
    by_psi = by_distance.model_copy(update={"column": "b", "distance": 0.01, "psi": 0.3})
    v = decide(T, drift=DriftReport(columns=[by_distance, by_psi], correction="fdr_bh", alpha=0.001))
    got = {r.column: (r.metric, r.value, r.threshold) for r in v.reasons}
    assert got == {"a": ("ks_statistic", 0.2, T.distance_retrain), "b": ("psi", 0.3, T.psi_retrain)}
