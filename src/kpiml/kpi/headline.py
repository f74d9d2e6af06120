"""The campaign headline of a trained bundle: one function, so `kpiml roi` and the report agree.

The headline is the campaign the bundle's economics imply, recomputed on the out-of-fold rows
the operating point was chosen on (`oof.parquet` in the bundle): rows acted on, profit with
its bootstrap interval, spend and ROI. `kpiml roi` calls it with changed economics; the
report's first screen calls it with the bundle's own. Same function, same seed, same number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kpiml.errors import KpimlError
from kpiml.kpi.operating_point import OutOfFold
from kpiml.kpi.roi import RoiResult, campaign
from kpiml.spec import KpiBlock

SEED = 0
N_BOOT = 1000


@dataclass(frozen=True)
class BundleKpi:
    """What a bundle stores for the KPI: its block (as trained), the OOF rows, whether it has economics."""

    kpi: KpiBlock
    oof: OutOfFold
    economics: bool
    path: Path


def bundle_kpi(bundle: Any) -> BundleKpi:
    """Read the KPI parts of a bundle (a `kpiml.artifact.Bundle` or its folder), hashes checked."""
    import json

    from kpiml.artifact import read_oof, verify_bundle

    path = Path(getattr(bundle, "path", bundle))
    verify_bundle(path)
    metadata = getattr(bundle, "metadata", None) or json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    oof = read_oof(path)
    if oof is None:
        raise KpimlError(f"Bundle {path} stores no out-of-fold predictions to recompute the campaign on",
                         expected="a binary model trained by this version of kpiml", fix="retrain it with `kpiml train`")
    values = oof["value"].to_numpy(dtype="float64") if "value" in oof.columns else None
    kpi = KpiBlock.model_validate(metadata["spec"]["kpi"])
    economics = bool((metadata.get("operating_point") or {}).get("economics"))
    return BundleKpi(kpi, OutOfFold(oof["y"].to_numpy(dtype="int64"), oof["p"].to_numpy(dtype="float64"), values), economics, path)


def headline(bundle: Any, kpi: KpiBlock | None = None, *, rows: int | None = None) -> RoiResult:
    """The campaign under `kpi` (default: the bundle's own economics) on the bundle's OOF rows.

    `rows` scales the totals to a campaign of that many customers (default: the OOF rows).
    """
    stored = bundle if isinstance(bundle, BundleKpi) else bundle_kpi(bundle)
    kpi = kpi or stored.kpi
    values = stored.oof.values if kpi.economics.value_column else None
    if kpi.economics.value_column and values is None:
        raise KpimlError(f"The bundle has no values of '{kpi.economics.value_column}' for its out-of-fold rows",
                         fix="drop --value-column, or retrain with it")
    return campaign(stored.oof.y, stored.oof.p, kpi, values, rows=rows, n_boot=N_BOOT, seed=SEED)


def headline_text(result: RoiResult) -> str:
    """The headline in one sentence (the same wording wherever it is shown)."""
    ci = result.profit_ci
    roi = f"ROI {result.roi:.0%}" if np.isfinite(result.roi) else "no spend"
    return (f"Acting on {result.acted:,} of {result.rows:,} customers ({result.share_acted:.1%}) earns {result.profit:,.0f} "
            f"(95 % CI {ci.low:,.0f} to {ci.high:,.0f}) for a spend of {result.spend:,.0f}: {roi}.")
