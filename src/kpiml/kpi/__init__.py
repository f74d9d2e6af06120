"""The KPI value model: payoff, profit, EMP, operating point, bootstrap intervals, ROI what-if.

Pure functions on numpy arrays; files, flags and printing belong to the CLI and the stages.
"""

from kpiml.kpi.bootstrap import ConfidenceInterval, bootstrap_ci, bootstrap_mean_ci
from kpiml.kpi.economics import ChurnTerms, Payoff, has_economics, max_rows, payoff_from_kpi
from kpiml.kpi.emp import EmpResult, emp_churn, emp_score
from kpiml.kpi.holdout import holdout_figures
from kpiml.kpi.operating_point import (
    OperatingPoint,
    OutOfFold,
    apply_operating_point,
    choose_operating_point,
    regression_decisions,
)
from kpiml.kpi.profit import (
    BestPoint,
    ProfitCurve,
    cumulative_gain_at,
    decision_profit,
    expected_decision_profit,
    expected_profit_curve,
    expected_values,
    lift_at,
    max_profit,
    perfect_profit,
    profit_curve,
    profit_per_customer,
    regret,
    threshold_profit,
    value_captured_at,
)
from kpiml.kpi.roi import RoiResult, campaign, sensitivity, with_changes
from kpiml.kpi.scorer import implied_metric, kpi_key, kpi_metric, kpi_metric_name, kpi_score

__all__ = [
    "BestPoint",
    "ChurnTerms",
    "ConfidenceInterval",
    "EmpResult",
    "OperatingPoint",
    "OutOfFold",
    "Payoff",
    "ProfitCurve",
    "RoiResult",
    "apply_operating_point",
    "bootstrap_ci",
    "bootstrap_mean_ci",
    "campaign",
    "choose_operating_point",
    "cumulative_gain_at",
    "decision_profit",
    "emp_churn",
    "emp_score",
    "expected_decision_profit",
    "expected_profit_curve",
    "expected_values",
    "has_economics",
    "holdout_figures",
    "implied_metric",
    "kpi_key",
    "kpi_metric",
    "kpi_metric_name",
    "kpi_score",
    "lift_at",
    "max_profit",
    "max_rows",
    "payoff_from_kpi",
    "perfect_profit",
    "profit_curve",
    "profit_per_customer",
    "regression_decisions",
    "regret",
    "sensitivity",
    "threshold_profit",
    "value_captured_at",
    "with_changes",
]
