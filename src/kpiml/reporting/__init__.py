"""Reports: shared page template and SVG chart helpers, and the model report (`report.html`).

`page` renders any kpiml page from `templates/base.html.j2`; `charts` draws inline SVG with
matplotlib; `build` assembles the model report from a bundle. Heavy work happens inside the
functions, so importing this package is cheap.
"""

from kpiml.reporting.build import ReportPage, build_page, write_report
from kpiml.reporting.page import environment, render, svg

__all__ = ["ReportPage", "build_page", "environment", "render", "svg", "write_report"]
