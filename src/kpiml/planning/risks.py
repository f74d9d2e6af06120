"""The risks a reviewer should read before training, drawn from the profile and the plan."""

from __future__ import annotations

from kpiml.data.profile import Profile
from kpiml.planning.requirements import check_needs
from kpiml.spec import Risk, Spec

_ORDER = {"high": 0, "medium": 1, "low": 2}


def _data_risks(profile: Profile, rows: int) -> list[Risk]:
    out = [Risk(severity="high", title=f"Leakage suspect: {s.column}", detail=f"{s.evidence}. Excluded from features; confirm it is known at decision time before re-enabling.") for s in profile.leakage]
    if rows < 1_000:
        out.append(Risk(severity="high", title="Very little data", detail=f"{rows:,} labelled rows: estimates will be noisy; expect wide intervals and prefer simple models."))
    elif rows < 5_000:
        out.append(Risk(severity="medium", title="Small data", detail=f"{rows:,} labelled rows: cross-validated figures carry a few points of noise; the hold-out interval says how much."))
    minority = profile.target.minority_share
    if profile.target.problem != "regression" and minority is not None and minority < 0.1:
        out.append(Risk(severity="medium", title="Rare positive class", detail=f"Only {minority:.1%} of rows are in the smallest class: accuracy is meaningless; rely on PR-AUC, lift and profit."))
    if profile.duplicate_rows:
        out.append(Risk(severity="medium", title="Duplicate rows", detail=f"{profile.duplicate_rows:,} duplicate rows can sit on both sides of a split and inflate scores."))
    personal = [c.name for c in profile.column_profiles if c.role == "personal"]
    if personal:
        out.append(Risk(severity="medium", title="Personal data present", detail=f"Columns {', '.join(personal)} hold personal data: excluded from features; restrict access to the source and the decision log."))
    sparse = [c.name for c in profile.column_profiles if c.missing_share > 0.4 and c.role not in ("empty", "personal")]
    if sparse:
        out.append(Risk(severity="low", title="Sparse columns", detail=f"{', '.join(sparse)} are more than 40 % missing: their missingness may encode how the data was collected."))
    return out


def assess_risks(profile: Profile, spec: Spec) -> list[Risk]:
    from kpiml.kpi import has_economics

    rows = sum(profile.target.counts.values()) if profile.target.counts else profile.rows - profile.target.missing_dropped
    out = _data_risks(profile, rows)
    missing = [s for s in check_needs(spec.kpi.template, [c.name for c in spec.columns]) if not s.present]
    if missing:
        names = "; ".join(f"{s.need.name} ({s.need.why})" for s in missing)
        out.append(Risk(severity="medium" if len(missing) >= 2 else "low", title="Data this KPI usually needs is absent", detail=f"No column looks like: {names}."))
    if spec.split.strategy == "time":
        out.append(Risk(severity="medium", title="Behaviour changes over time", detail=f"Rows span a period ('{spec.split.time_column}'): expect drift after deployment; monitoring compares each batch with the training reference."))
    if spec.target.problem == "binary" and not has_economics(spec.kpi):
        out.append(Risk(severity="low", title="No economics given", detail="Without the value of a saved customer and the cost of contacting one, kpiml ranks models by AUC and cannot size the campaign; fill kpi.economics."))
    return sorted(out, key=lambda r: _ORDER[r.severity])
