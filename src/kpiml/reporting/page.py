"""One Jinja2 environment for every kpiml HTML page, with the number filters they share.

Pages extend `base.html.j2` (inline CSS, laptop-width layout, print rules), so the report,
monitor and forecast pages look and print alike and none of them makes a network request.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from markupsafe import Markup


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def num(v: Any, digits: int = 3) -> str:
    """Integers with thousands separators, other numbers to `digits` significant digits."""
    if not _finite(v):
        return "n/a"
    if isinstance(v, int) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
        return f"{int(v):,}"
    return f"{float(v):,.{digits}g}"


def pct(v: Any, digits: int = 1) -> str:
    """A share as a percentage ('n/a' when missing)."""
    return f"{float(v):.{digits}%}" if _finite(v) else "n/a"


def money(v: Any) -> str:
    """An amount to the unit, with thousands separators."""
    return f"{float(v):,.0f}" if _finite(v) else "n/a"


def fixed(v: Any, digits: int = 3) -> str:
    """A number to a fixed number of decimals (metrics of similar size line up)."""
    return f"{float(v):,.{digits}f}" if _finite(v) else "n/a"


@lru_cache(maxsize=1)
def environment() -> Any:
    """The shared environment: templates from kpiml/templates, autoescaped, undefined is an error."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("kpiml", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=num, pct=pct, money=money, fixed=fixed)
    return env


def svg(markup: str) -> Markup:
    """Mark an SVG string drawn by kpiml.reporting.charts as safe to insert unescaped."""
    return Markup(markup)


def render(template: str, **context: Any) -> str:
    """Render one page template with the shared filters."""
    return str(environment().get_template(template).render(**context))
