"""Forecasting and anomaly detection for trend KPIs (`kpiml forecast`, `kpiml anomalies`).

Modules, one job each: `timeindex` (frequency inference), `panel` + `repairs` (input checks,
gaps, duplicates, future exogenous rows), `features` + `global_model` (the global LightGBM
model), `candidates` (model registry and budget plan), `backtest` (rolling origin), `metrics`
(MASE, sMAPE, bias), `selection` (per-series choice, pooled ensemble), `conformal`
(intervals), `anomalies`, `pipeline` (orchestration) and `report` (tables and HTML page).
"""

from kpiml.forecasting.anomalies import AnomalyResult, AnomalySettings, detect_anomalies
from kpiml.forecasting.panel import Panel, build_panel
from kpiml.forecasting.pipeline import ForecastResult, ForecastSettings, run_forecast

__all__ = [
    "AnomalyResult",
    "AnomalySettings",
    "ForecastResult",
    "ForecastSettings",
    "Panel",
    "build_panel",
    "detect_anomalies",
    "run_forecast",
]
