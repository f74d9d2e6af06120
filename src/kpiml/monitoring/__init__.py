"""Monitoring: drift statistics, data quality, live quality, KPI impact and the retrain verdict.

Pure functions on pandas/numpy; only `report` writes files. Typical use by `kpiml monitor`:

    reference = Reference.model_validate_json(bundle_text)   # stored by `kpiml train`
    result = monitor(reference, new_rows, scores=scores, contract=contract,
                     thresholds=Thresholds.from_spec(spec.monitoring), live=..., impact=...)
    write_report(result, out_dir); raise SystemExit(result.exit_code)

`kpiml retrain` scores champion and challenger on the most recent labelled rows and calls
`compare_challenger` (paired bootstrap of the KPI metric) to decide the promotion.
"""

from kpiml.monitoring.challenger import ChallengerComparison, compare_challenger
from kpiml.monitoring.control import control_among_actions, hash_unit, in_control
from kpiml.monitoring.drift import ColumnDrift, DriftReport, drift_report, ks_distance, psi
from kpiml.monitoring.impact import (
    Campaign,
    Estimate,
    ImpactResult,
    kpi_impact,
    realised_row_value,
    simulate_campaign,
)
from kpiml.monitoring.live import LiveQuality, confusion_values, join_outcomes, live_quality
from kpiml.monitoring.quality import (
    QualityReport,
    check_quality,
    contract_from_bundle,
    infer_contract,
)
from kpiml.monitoring.reference import Reference, build_reference
from kpiml.monitoring.run import MonitorResult, monitor, outcome_sections
from kpiml.monitoring.thresholds import Thresholds
from kpiml.monitoring.verdict import Reason, Verdict, decide

__all__ = [
    "Campaign",
    "ChallengerComparison",
    "ColumnDrift",
    "DriftReport",
    "Estimate",
    "ImpactResult",
    "LiveQuality",
    "MonitorResult",
    "QualityReport",
    "Reason",
    "Reference",
    "Thresholds",
    "Verdict",
    "build_reference",
    "check_quality",
    "compare_challenger",
    "confusion_values",
    "contract_from_bundle",
    "control_among_actions",
    "decide",
    "drift_report",
    "hash_unit",
    "in_control",
    "infer_contract",
    "join_outcomes",
    "kpi_impact",
    "ks_distance",
    "live_quality",
    "monitor",
    "outcome_sections",
    "psi",
    "realised_row_value",
    "simulate_campaign",
]
