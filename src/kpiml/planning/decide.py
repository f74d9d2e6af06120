"""Turn a profile into a spec: every decision of the plan, each with the evidence behind it.

The rules are the ones a senior data scientist applies by hand (size decides folds and
candidates, imbalance decides weights and metrics, dates decide the split, leakage and
personal data decide exclusions); writing them down makes the plan reproducible and lets
a 1,500-row table and a 1,000,000-row table get different, explained plans.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kpiml import __version__
from kpiml.data.profile import ColumnProfile, Profile
from kpiml.spec import (
    Candidate,
    ColumnPlan,
    ColumnUse,
    DataBlock,
    DeploymentBlock,
    Imputation,
    KpiBlock,
    KpiTemplate,
    MetricsBlock,
    ModelName,
    ModelsBlock,
    MonitoringBlock,
    OutlierTreatment,
    ProjectBlock,
    SearchBlock,
    SnapshotBlock,
    SnapshotFeature,
    Spec,
    SplitBlock,
    SplitStrategy,
    TargetBlock,
)

if TYPE_CHECKING:
    import pandas as pd

ONEHOT_MAX = 30
SVM_MAX_ROWS = 20_000
_TEMPLATE_WORDS: list[tuple[str, KpiTemplate, str]] = [
    (r"churn|attrition|cancel|retention|leave|exited", "churn", "customer churn"),
    (r"default|credit|status|risk|bad_?loan|delinq", "credit", "credit default losses"),
    (r"convert|conversion|purchase|response|subscribe|signup|buy|click|lead", "conversion", "conversion"),
]


def size_tier(rows: int) -> str:
    if rows < 2_000:
        return "small"
    if rows < 50_000:
        return "medium"
    if rows < 500_000:
        return "large"
    return "very large"


def infer_kpi(profile: Profile) -> KpiBlock:
    """Guess the KPI template from the target's name and labels; the user confirms it in the spec."""
    t = profile.target
    words = f"{t.column} {t.positive or ''}"
    if t.problem == "binary":
        for pattern, template, name in _TEMPLATE_WORDS:
            if re.search(pattern, words, re.I):
                direction: Literal["reduce", "increase"] = "increase" if template == "conversion" else "reduce"
                return KpiBlock(name=name, template=template, direction=direction, primary_metric="roc_auc",
                                reason=f"Target '{t.column}' (positive '{t.positive}') reads as {name}; the {template} template applies. No economics were given, so models are ranked by ROC-AUC until kpi.economics is filled.")
    if t.problem == "regression":
        return KpiBlock(name=f"{t.column} (value)", template="custom", direction="increase", primary_metric="rmse",
                        reason=f"Target '{t.column}' is a numeric value: the KPI is predicting it accurately; set kpi.economics to value decisions on it.")
    return KpiBlock(name=f"predicting {t.column}", template="custom", direction="increase", primary_metric="roc_auc" if t.problem == "binary" else "log_loss",
                    reason=f"No business template matched target '{t.column}'; set kpi.template and kpi.economics to rank models by value.")


def _numeric_plan(p: ColumnProfile) -> ColumnPlan:
    reasons = []
    impute: Imputation = "none"
    if p.missing_share > 0:
        impute = "median"
        reasons.append(f"{p.missing_share:.1%} missing: median imputation (robust to skew) plus a missing indicator")
    outliers: OutlierTreatment = "none"
    skew = p.skew or 0.0
    if skew > 2 and p.min is not None and float(p.min) >= 0:
        outliers = "log1p"
        reasons.append(f"right-skewed (skew {skew:.1f}, min {float(p.min):.3g}): log1p for linear models")
    elif (p.outlier_share or 0) > 0.01:
        outliers = "clip_iqr"
        reasons.append(f"{p.outlier_share:.1%} of values beyond 1.5 IQR: clipped at the fences for linear models")
    reasons.append("standard scaling for linear, SVM and MLP models (trees use raw values)")
    return ColumnPlan(name=p.name, role=p.role, use="feature", impute=impute, scale="standard", outliers=outliers, reason="; ".join(reasons) + ".")


def _categorical_plan(p: ColumnProfile) -> ColumnPlan:
    impute: Imputation = "missing_category" if p.missing_share > 0 else "none"
    miss = f"{p.missing_share:.1%} missing kept as its own category; " if p.missing_share > 0 else ""
    if p.role == "boolean":
        bool_impute: Imputation = "most_frequent" if p.missing_share else "none"
        return ColumnPlan(name=p.name, role=p.role, use="feature", impute=bool_impute, encode="ordinal",
                          reason=f"{miss}two values: encoded as 0/1.")
    if p.distinct <= ONEHOT_MAX:
        return ColumnPlan(name=p.name, role=p.role, use="feature", impute=impute, encode="onehot",
                          reason=f"{miss}{p.distinct} categories: one-hot encoded (unseen categories ignored at prediction).")
    return ColumnPlan(name=p.name, role=p.role, use="feature", impute=impute, encode="target",
                      reason=f"{miss}{p.distinct} categories (high cardinality): out-of-fold target encoding instead of {p.distinct} one-hot columns.")


def column_plan(p: ColumnProfile, leaks: dict[str, str], split_cols: dict[str, ColumnUse]) -> ColumnPlan:
    """Decide the use and treatment of one column from its profile."""
    base: dict[str, Any] = {"name": p.name, "role": p.role}
    if p.name in leaks:
        return ColumnPlan(**base, use="exclude", reason=f"Leakage suspect: {leaks[p.name]}. Excluded; re-enable only if it is known before the decision is made.")
    if p.name in split_cols:
        return ColumnPlan(**base, use=split_cols[p.name], encode="date_parts" if p.role == "datetime" else "none", reason=f"Drives the split: {split_cols[p.name]} column, not a model input.")
    if p.role == "identifier":
        return ColumnPlan(**base, use="identifier", reason="Unique per row: kept to join predictions back, never a feature (it would only memorise rows).")
    if p.role == "personal":
        return ColumnPlan(**base, use="exclude", reason=f"Personal data ({p.personal_kind}): excluded from features by default (privacy, and no signal that generalises).")
    if p.role in ("constant", "empty"):
        return ColumnPlan(**base, use="exclude", reason=f"{p.role.capitalize()} column: carries no information.")
    if p.role == "numeric":
        return _numeric_plan(p)
    if p.role in ("categorical", "boolean"):
        return _categorical_plan(p)
    if p.role == "datetime":
        return ColumnPlan(**base, use="feature", encode="date_parts", impute="none",
                          reason=f"Date spanning {p.span_days or 0:.0f} days: derived features (days before the reference date, i.e. tenure/age, plus month and weekday).")
    return ColumnPlan(**base, use="feature", encode="tfidf", reason="Free text: TF-IDF of words, limited vocabulary.")


#: Where a duration's effect may bend, in days, for linear models: a month, a quarter, half a year, a year.
DURATION_HINGES = (30.0, 90.0, 180.0, 365.0)


def _with_origin(plan: ColumnPlan, built: dict[str, SnapshotFeature]) -> ColumnPlan:
    """A built snapshot feature's plan, prefixed with why `kpiml snapshots` made it.

    A duration gets bends for linear models at a month, a quarter, half a year and a year
    (DURATION_HINGES): the risk it carries changes most in the first weeks (a new customer,
    a fresh lapse) and little over later years, a curve that neither days nor their log
    follow. Without the bends a linear model read newness from counts over windows longer
    than the entity had existed: on simulated snapshots (40,000 customers, simulator seeds
    1-3) `kpiml train` ranked tenure 23rd-48th when a logistic model shipped, 17th-64th with
    log1p on durations (tried beside daily event rates), and 4th-5th with the bends
    (tests/snapshots/test_train_quality.py)."""
    feature = built.get(plan.name)
    if feature is None or plan.use != "feature":
        return plan
    update: dict[str, Any] = {"reason": f"Point-in-time feature ({feature.reason}). {plan.reason}"}
    if feature.duration and plan.role == "numeric":
        was_log = plan.outliers == "log1p"
        update.update(outliers="none" if was_log else plan.outliers, hinges=list(DURATION_HINGES))
        update["reason"] += " A duration: linear models get bends at 30, 90, 180 and 365 days" + (" instead of the log1p (the bends are in days)." if was_log else ".")
    return plan.model_copy(update=update)


def split_block(profile: Profile, rows: int, snapshot: SnapshotBlock | None = None, frame: pd.DataFrame | None = None) -> SplitBlock:
    tier = size_tier(rows)
    holdout = {"small": 0.25, "medium": 0.2, "large": 0.2, "very large": 0.1}[tier]
    folds = {"small": 5, "medium": 5, "large": 3, "very large": 3}[tier]
    sizes = f"{rows:,} labelled rows ({tier}): {holdout:.0%} final hold-out scored once after selection, {folds}-fold cross-validation on the rest"
    if snapshot is not None and frame is not None:
        from kpiml.planning.snapshot import snapshot_split

        return snapshot_split(frame, snapshot, holdout, folds, sizes)
    if profile.time_columns:
        col = profile.time_columns[0]
        span = profile.column(col).span_days or 0
        return SplitBlock(strategy="time", holdout=holdout, folds=folds, time_column=col,
                          reason=f"'{col}' spans {span:.0f} days: validation is time-ordered (expanding window, hold-out = latest {holdout:.0%}) so no model is validated on a period it has seen. {sizes}.")
    if profile.entity_columns:
        col = profile.entity_columns[0]
        return SplitBlock(strategy="grouped", holdout=holdout, folds=folds, group_column=col,
                          reason=f"'{col}' repeats across rows: grouped folds keep each entity on one side. {sizes}.")
    strategy: SplitStrategy = "random" if profile.target.problem == "regression" else "stratified"
    why = "stratified to keep the class balance in every fold" if strategy == "stratified" else "random (no time or entity column found)"
    return SplitBlock(strategy=strategy, holdout=holdout, folds=folds, reason=f"No time or entity column: {why}. {sizes}.")


def candidates(rows: int, features: int, problem: str) -> list[Candidate]:
    """Which model families are worth the budget at this size, and why."""
    linear: ModelName = "logistic" if problem != "regression" else "linear"
    out = [
        Candidate(name=linear, reason="Baseline: fast, interpretable, well calibrated; any other model must beat it."),
        Candidate(name="lightgbm", reason=f"Gradient boosting handles mixed types, missing values and interactions; with early stopping it is the usual winner on {rows:,} rows of tabular data."),
        Candidate(name="xgboost", reason="Second boosting implementation with different regularisation; often blends well with LightGBM."),
        Candidate(name="catboost", reason="Ordered boosting on symmetric trees: less prone to overfit small, noisy tables than the other boosters, and a different model to blend."),
        Candidate(name="random_forest", max_rows=200_000 if rows > 200_000 else None, reason="Bagged trees: robust with little tuning and a strong small-data performer." + (" Subsampled to 200,000 rows to bound fit time." if rows > 200_000 else "")),
    ]
    if rows <= SVM_MAX_ROWS:
        out.append(Candidate(name="svm", reason=f"RBF SVM: strong on small, dense data; its O(n²) cost is affordable at {rows:,} rows."))
    else:
        out.append(Candidate(name="svm", enabled=rows <= 5 * SVM_MAX_ROWS, max_rows=SVM_MAX_ROWS,
                             reason="RBF SVM costs O(n²) in rows: " + (f"subsampled to {SVM_MAX_ROWS:,} of {rows:,} rows." if rows <= 5 * SVM_MAX_ROWS else f"skipped at {rows:,} rows (a subsample would waste budget the boosters use better).")))
    mlp_on = rows >= 2_000
    out.append(Candidate(name="mlp", enabled=mlp_on, max_rows=200_000 if rows > 200_000 else None,
                         reason="Small neural network on scaled inputs: adds a different inductive bias for blending." if mlp_on else f"Disabled: {rows:,} rows are too few for a neural network to beat trees and the baseline."))
    return out


def search_block(rows: int, features: int, profile: Profile) -> SearchBlock:
    budget = int(min(1800, max(60, 60 + rows * max(features, 1) / 20_000)))
    minority = profile.target.minority_share
    imbalance: Literal["none", "class_weight", "undersample"] = "class_weight" if profile.target.problem != "regression" and minority is not None and minority < 0.2 else "none"
    why_imb = f"minority class is {minority:.1%}: class weights (kept only if cross-validation says they help). " if imbalance != "none" else ""
    calib: Literal["auto", "none"] = "auto" if profile.target.problem != "regression" else "none"
    return SearchBlock(budget_seconds=budget, imbalance=imbalance, calibration=calib,
                       reason=f"Optuna TPE with pruning across candidates under a {budget} s wall-clock budget (scaled to {rows:,} rows x {features} features); boosting uses early stopping on an inner validation split. {why_imb}"
                              + ("Probabilities are calibrated (sigmoid or isotonic, whichever has the lower out-of-fold Brier score) because decisions turn them into money." if calib == "auto" else ""))


def kpi_metrics(metrics: MetricsBlock, kpi: KpiBlock, problem: str) -> MetricsBlock:
    """The metrics block once the KPI has economics: the metric they imply becomes primary.

    AUC and log-loss stay as secondary metrics: they break ties in selection and tell whether
    a profit gain came from a better ranking or only a better threshold.
    """
    from kpiml.kpi import has_economics, implied_metric

    if problem != "binary" or not has_economics(kpi):
        return metrics
    name, reason = implied_metric(kpi)
    secondary = [m for m in ["roc_auc", "log_loss", *metrics.secondary] if m not in (name, "expected_profit")]
    return MetricsBlock(primary=name, secondary=list(dict.fromkeys(secondary)), reason=reason)


def with_kpi(spec: Spec, kpi: KpiBlock) -> Spec:
    """The spec with a new KPI block (from flags or an edit), its primary metric and reasons updated."""
    from kpiml.kpi.economics import capacity_text

    view = economics_view(spec.model_copy(update={"kpi": kpi}))
    if view is not None:
        cap = kpi.capacity
        limit = f"; capacity: {capacity_text(cap, kpi.economics.contact)}" if cap.share or cap.count or cap.budget else ""
        how = f"the {kpi.template} template" if kpi.template in ("churn", "conversion", "credit") else "the payoff given"
        kpi = kpi.model_copy(update={"reason": f"The KPI '{kpi.name}' is valued with {how}. Economics: {view['derivation']}{limit}."})
    metrics = kpi_metrics(spec.metrics, kpi, spec.target.problem)
    kpi = kpi.model_copy(update={"primary_metric": metrics.primary})
    risks = [r for r in spec.risks if not (view is not None and r.title == "No economics given")]
    return spec.model_copy(update={"kpi": kpi, "metrics": metrics, "risks": risks})


def economics_view(spec: Spec) -> dict[str, str] | None:
    """The KPI's economics in words for plan.md: the payoff derivation, ranking and capacity."""
    import numpy as np

    from kpiml.kpi import has_economics, payoff_from_kpi
    from kpiml.kpi.economics import capacity_text

    kpi = spec.kpi
    cap = kpi.capacity
    capacity = capacity_text(cap, kpi.economics.contact) if cap.share or cap.count or cap.budget else ""
    if spec.target.problem == "regression":
        cost = kpi.economics.cost_fp or kpi.economics.contact
        if not cost:
            return None
        return {"derivation": f"act on a row when its predicted {spec.target.column} exceeds the cost of acting ({cost:g}), highest first",
                "ranking": "predicted value", "capacity": capacity}
    if spec.target.problem != "binary" or not has_economics(kpi):
        return None
    per_row = kpi.economics.value_column
    payoff = payoff_from_kpi(kpi, np.ones(1) if per_row else None)
    ranking = "p (with one payoff for every row, ranking by p is ranking by expected value)" if payoff.is_scalar else "expected net value p·benefit − (1 − p)·cost (each row has its own value)"
    return {"derivation": payoff.derivation, "ranking": ranking, "capacity": capacity}


def metrics_block(profile: Profile) -> MetricsBlock:
    t = profile.target
    if t.problem == "binary":
        minority = t.minority_share or 0.5
        extra = f" With {minority:.1%} positives, PR-AUC shows what AUC hides about the rare class." if minority < 0.2 else ""
        return MetricsBlock(primary="roc_auc", secondary=["pr_auc", "log_loss", "brier", "lift_at_10", "expected_profit"],
                            reason="ROC-AUC ranks customers for action regardless of threshold; once kpi.economics is set, expected profit at the operating point becomes primary." + extra)
    if t.problem == "multiclass":
        return MetricsBlock(primary="log_loss", secondary=["accuracy", "macro_f1", "roc_auc_ovr"],
                            reason=f"{len(t.classes)} classes: log-loss rewards calibrated class probabilities; macro-F1 guards the small classes.")
    return MetricsBlock(primary="rmse", secondary=["mae", "r2", "value_captured_at_20"],
                        reason=f"Regression on '{t.column}' (mean {t.mean:.4g}, sd {t.std:.4g}): RMSE penalises the large errors that cost most; MAE and R² for reporting; value captured in the top 20 % for targeting.")


def deployment_blocks(kpi: KpiBlock, profile: Profile) -> tuple[DeploymentBlock, MonitoringBlock]:
    if kpi.template == "credit":
        dep = DeploymentBlock(mode="batch_and_rest", reason="Credit decisions are taken at application time: a REST endpoint scores each application; batch re-scores the book for monitoring.")
    elif kpi.template == "conversion":
        dep = DeploymentBlock(mode="batch_and_rest", schedule="daily", reason="Campaign lists are scored in batch; website or CRM touch-points ask the REST endpoint.")
    else:
        dep = DeploymentBlock(mode="batch", schedule="monthly", reason="Decisions are taken per campaign or period: batch scoring of the customer base, with a REST endpoint available for CRM look-ups.")
    positives = min(profile.target.counts.values()) if profile.target.counts else 0
    min_out = max(100, min(1000, positives // 4 if positives else 200))
    mon = MonitoringBlock(min_outcomes=min_out, reason=f"Input contract enforced at scoring; feature and score drift by PSI (watch above 0.1, retrain above 0.25) with KS/chi-square tests corrected for {profile.columns} columns; live quality once {min_out} outcomes have arrived; retrain when the primary metric drops by 0.05 or drift passes the retrain threshold.")
    return dep, mon


def build_spec(profile: Profile, source: str, table: str | None = None, query: str | None = None, budget: int | None = None, snapshot: SnapshotBlock | None = None, frame: pd.DataFrame | None = None) -> Spec:
    """Every decision of the plan for this profile, as an editable spec (`frame`: the labelled rows, for a snapshot's split)."""
    from kpiml.planning.risks import assess_risks
    from kpiml.planning.snapshot import built_features, snapshot_kpi

    rows = sum(profile.target.counts.values()) if profile.target.counts else profile.rows - profile.target.missing_dropped
    leaks = {s.column: s.evidence for s in profile.leakage}
    split = split_block(profile, rows, snapshot, frame)
    pairs: list[tuple[str | None, ColumnUse]] = [(split.time_column, "time"), (split.group_column, "group")]
    if snapshot is not None:
        pairs.append((snapshot.cutoff_column, "time"))
    split_cols = {c: u for c, u in pairs if c}
    built = built_features(snapshot)
    cols = [_with_origin(column_plan(p, leaks, split_cols), built) for p in profile.column_profiles]
    cols.append(ColumnPlan(name=profile.target.column, role="numeric" if profile.target.problem == "regression" else "categorical", use="target", reason=profile.target.reason))
    n_feat = sum(c.use == "feature" for c in cols)
    kpi = infer_kpi(profile) if snapshot is None else snapshot_kpi(infer_kpi(profile), snapshot)
    search = search_block(rows, n_feat, profile)
    if budget is not None:
        search.budget_seconds = budget
    dep, mon = deployment_blocks(kpi, profile)
    spec = Spec(
        project=ProjectBlock(name=Path(source).stem if "://" not in source else (table or "query"), kpiml_version=__version__),
        data=DataBlock(source=source, table=table, query=query, rows=profile.rows, columns=profile.columns, fingerprint=profile.fingerprint),
        snapshot=snapshot,
        target=TargetBlock(column=profile.target.column, problem=profile.target.problem, positive=profile.target.positive, classes=profile.target.classes, reason=profile.target.reason),
        columns=cols, kpi=kpi, split=split,
        models=ModelsBlock(candidates=candidates(rows, n_feat, profile.target.problem), search=search),
        metrics=metrics_block(profile), deployment=dep, monitoring=mon,
    )
    spec.risks = assess_risks(profile, spec)
    return spec
