"""kpiml: KPI-based machine learning, from a table and a KPI to a plan, a model and decisions."""

from kpiml.errors import KpimlError

__version__ = "0.1.0"
__all__ = ["KpimlError", "__version__"]
