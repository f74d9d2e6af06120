"""The report's first screen: what acting on the model is worth, and how sure that figure is.

The campaign figures come from `kpiml.kpi.headline` — the function `kpiml roi` prints — on the
same stored out-of-fold rows with the same seed, so the page and the command always agree.
The two alternatives a manager compares with are computed on those rows too: doing nothing
(the baseline every profit is measured from, so 0) and contacting everyone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kpiml.kpi.roi import RoiResult


def _verb(kpi: Any) -> str:
    return "Contact" if kpi.template in ("churn", "conversion") or kpi.economics.contact is not None else "Act on"


def rule_words(result: RoiResult, kpi: Any, noun: str = "customers") -> str:
    """The decision rule in one sentence, e.g. 'Contact the 20.0 % with the highest expected net value: 423 of 2,113 customers'."""
    point = result.point
    ranking = "churn risk" if point.ranking == "probability" and kpi.template == "churn" else (
        "probability" if point.ranking == "probability" else "expected net value")
    if point.threshold is None or result.acted == 0:
        return f"Contact no one: no {noun[:-1]} is worth acting on under these economics."
    bar = f"score {point.threshold:.3g}" if point.ranking == "probability" else f"expected net value {point.threshold:,.3g}"
    return (f"{_verb(kpi)} the {result.share_acted:.1%} with the highest {ranking} (at least {bar}): "
            f"{result.acted:,} of {result.rows:,} {noun}.")


def everyone(stored: Any, n_boot: int, seed: int) -> dict[str, float]:
    """Profit, its interval, spend and ROI of acting on every stored row (same rows, seed and scaling as the headline)."""
    from kpiml.kpi import bootstrap_mean_ci, payoff_from_kpi
    from kpiml.kpi.profit import row_gains

    y = stored.oof.y
    payoff = payoff_from_kpi(stored.kpi, stored.oof.values if stored.kpi.economics.value_column else None)
    gains = row_gains(y, payoff) * np.ones(len(y))
    spend = float(np.sum(y * payoff.spend_tp + (1 - y) * payoff.spend_fp))
    ci = bootstrap_mean_ci(gains, n_boot=n_boot, seed=seed, stratify=y)
    return {"profit": float(gains.sum()), "low": ci.low * len(y), "high": ci.high * len(y), "spend": spend,
            "roi": float(gains.sum()) / spend if spend > 0 else float("nan")}


def campaign_screen(bundle_path: Path) -> dict[str, Any] | None:
    """The headline, the rule in words and the alternatives; None when the bundle has no economics."""
    from kpiml.errors import KpimlError
    from kpiml.kpi.headline import N_BOOT, SEED, bundle_kpi, headline, headline_text

    try:
        stored = bundle_kpi(bundle_path)
    except KpimlError:
        return None
    if not stored.economics:
        return None
    result = headline(stored)
    return {"result": result, "text": headline_text(result), "rule": rule_words(result, stored.kpi),
            "everyone": everyone(stored, N_BOOT, SEED), "kpi": stored.kpi, "rows": len(stored.oof.y)}
