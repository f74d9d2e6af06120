"""Train a model from a spec and a cleaned frame, within a wall-clock budget.

Order matters for honesty: the hold-out is split off first and touched once, after the
search, blend and calibration were chosen on out-of-fold predictions of the rest. The
shipped model is then refitted on every row (hold-out included) when the remaining time
allows it, else the fold models are averaged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from kpiml.clock import slowdown
from kpiml.errors import KpimlError
from kpiml.evaluation.metrics import DEFAULT_PRIMARY, Scorer, evaluate, get_scorer
from kpiml.features._transformers import coerce_column
from kpiml.spec import Spec
from kpiml.training._blend import Blend, combine, select_blend
from kpiml.training._calibration import ProbabilityCalibrator, choose_calibration
from kpiml.training._candidates import REGISTRY, Task, candidates_for, stopping_share
from kpiml.training._folds import FoldCache
from kpiml.training._kpi import (
    KpiOutcome,
    binary_holdout,
    binary_outcome,
    cv_figure,
    economics_given,
    kpi_scorer,
    kpi_values,
    regression_holdout,
    regression_outcome,
)
from kpiml.training._model import KpimlModel, Member, ModelPart
from kpiml.training._search import (
    CandidateState,
    OutOfTime,
    SearchSetup,
    TrialResult,
    fold_workers,
    new_study,
    run_trial,
    search,
)
from kpiml.training._search import (
    evaluate as evaluate_config,
)
from kpiml.training._splits import SplitPlan, plan_splits, search_sample

MAX_MEMBERS = 3  # every member multiplies prediction, refit, bundle and report time
# Each blend member after the first must raise the OOF score by this share of the score's
# standard error over the folds, times its serving cost (`serving_cost`: 1 for trees, SVM and
# MLP, 0 for linear models, whose prediction and exact contributions cost next to nothing).
# A quarter keeps the blends that gained 0.46 (credit_data: SVM and two logistic models) and
# 1.3 standard errors (hotel_rates: three boosters), and drops one that gained 0.06 (IBM
# Telco: three boosters, 0.0004 AUC for three times the TreeSHAP per row: the service's p99
# went from 13 to 76 ms).
MEMBER_GAIN = 0.25
MAX_RESERVE = 0.35  # share of the budget the search may leave to refits and outputs
MIN_REFIT_FOLDS = 2  # a sampled search's refit must see at least this many folds' rows, else its fold models ship
KPI_METRICS = ("emp_per_customer", "profit_per_row")
Listener = Callable[[str, float, float | None], None]  # (message, elapsed seconds, best score)


@dataclass
class TrainResult:
    model: KpimlModel
    leaderboard: pd.DataFrame
    metrics: dict[str, Any]
    decisions: list[str] = field(default_factory=list)
    kpi: KpiOutcome | None = None  # operating point, OOF rows it was chosen on, KPI figures
    holdout: tuple[np.ndarray, np.ndarray] | None = None  # hold-out row positions and their predictions (for the report)


def encode_target(frame: pd.DataFrame, spec: Spec) -> tuple[np.ndarray, list[str]]:
    """Target as 0/1 (binary, positive = 1), class codes (multiclass) or floats, plus labels."""
    col = spec.target.column
    if col not in frame.columns:
        raise KpimlError(f"Target column '{col}' is not in the data", expected="the column named in target.column", got=", ".join(map(str, frame.columns[:10])), fix="check target.column in kpiml.yaml")
    if spec.target.problem == "regression":
        y = coerce_column(frame[col], "numeric")
        if np.isnan(y).any():
            raise KpimlError(f"Target column '{col}' has {int(np.isnan(y).sum())} missing or non-numeric values", fix="drop those rows or fix their values")
        return y, []
    labels = pd.Series(coerce_column(frame[col], "categorical"))
    if labels.isna().any():
        raise KpimlError(f"Target column '{col}' has {int(labels.isna().sum())} missing values", fix="drop the rows without a target")
    if spec.target.problem == "binary":
        positive = str(spec.target.positive)
        if not (labels == positive).any():
            raise KpimlError(f"Positive label '{positive}' does not occur in '{col}'", expected="one of " + ", ".join(sorted(labels.unique())[:10]), got=positive, fix="set target.positive in kpiml.yaml")
        others = sorted(set(labels.unique()) - {positive})
        return (labels == positive).to_numpy().astype(np.int64), [others[0] if len(others) == 1 else "not " + positive, positive]
    classes = sorted(labels.unique())
    return pd.Categorical(labels, categories=classes).codes.astype(np.int64), classes


def _states(spec: Spec, problem: str, n_rows: int, seed: int) -> tuple[list[CandidateState], list[str]]:
    enabled: dict[str, Any] = {c.name: c for c in spec.models.candidates if c.enabled}
    notes: list[str] = []
    states = []
    for model in candidates_for(list(enabled), problem, n_rows):
        plan = enabled.get(model.name)
        max_rows = plan.max_rows if plan is not None and plan.max_rows else model.default_max_rows
        if max_rows is not None and n_rows > max_rows:
            notes.append(f"{model.name}: trained on a random {max_rows:,} of {n_rows:,} rows per fit, because its cost grows faster than linearly with rows")
        states.append(CandidateState(model=model, study=new_study(seed), max_rows=max_rows))
    if not states:
        raise KpimlError(f"No enabled candidate model fits a {problem} target", expected=", ".join(n for n, m in REGISTRY.items() if problem in m.problems), got=", ".join(enabled) or "none", fix="enable candidates in models.candidates of kpiml.yaml")
    return states, notes


def _imbalance_options(spec: Spec, y: np.ndarray, problem: str) -> tuple[tuple[str, ...], str | None]:
    if problem == "regression":
        return ("none",), None
    share = float(np.bincount(y).min() / len(y))
    wanted = spec.models.search.imbalance
    if share >= 0.2 and wanted == "none":
        return ("none",), None
    options = ("none", "class_weight", "undersample") if wanted == "undersample" else ("none", "class_weight")
    return options, f"rarest class is {share:.1%} of rows: the search tries {', '.join(options[1:])} against none"


def _decide_pruning(setup: SearchSetup, states: list[CandidateState], deadline: float) -> tuple[bool, str]:
    """Run the reference candidate's defaults with and without redundancy pruning; keep the better."""
    ref = next((s for s in states if s.model.flavour == "boost"), states[0])
    ref.study.enqueue_trial(ref.model.defaults(setup.task) | ({"imbalance": "none"} if len(setup.imbalance) > 1 else {}))
    start = time.monotonic()
    try:
        run_trial(setup, ref, deadline)
        if ref.best is None:
            return False, "feature pruning not tried: the reference model did not finish"
        if 8 * (time.monotonic() - start) > deadline - start:
            return False, "feature pruning not tried: one cross-validation costs too large a share of the budget"
        params = {k: v for k, v in ref.best.params.items() if k != "imbalance"}
        pruned = evaluate_config(replace(setup, prune=True), ref, None, params, "none", deadline)
    except OutOfTime:
        return False, "feature pruning not tried: no time left in the budget"
    ref.seconds += pruned.seconds
    better = pruned.score >= ref.best.score
    verdict = "kept" if better else "not used"
    reason = f"redundant-feature pruning (constants, |r| >= 0.98, unused by a quick LightGBM) {verdict}: {ref.model.name} CV {pruned.score:.5f} with vs {ref.best.score:.5f} without"
    if better:
        ref.best = pruned
    return better, reason


def _leaderboard(states: list[CandidateState], scorer: Scorer, blend: Blend | None) -> pd.DataFrame:
    rows = []
    for s in states:
        best = s.best
        sign = 1 if scorer.greater_is_better else -1
        rows.append({
            "candidate": s.model.name,
            "metric": scorer.name,
            "cv_mean": round(sign * float(np.mean(best.fold_scores)), 6) if best else np.nan,
            "cv_std": round(float(np.std(best.fold_scores)), 6) if best else np.nan,
            "cv_oof": round(sign * best.score, 6) if best else np.nan,
            "fit_time_s": round(s.seconds, 2),
            "trials": s.trials,
            "pruned": s.pruned,
            "failed": s.failed,
            "blend_weight": round(blend.weights.get(s.model.name, 0.0), 4) if blend else 0.0,
            "best_params": _params_text(best.params) if best else "",
            "note": "; ".join(dict.fromkeys(s.notes))[:500],
        })
    board = pd.DataFrame(rows)
    return board.sort_values("cv_oof", ascending=not scorer.greater_is_better, na_position="last").reset_index(drop=True)


def _blend_row(ctx: _Context, blend: Blend, oof: np.ndarray, board: pd.DataFrame) -> pd.DataFrame:
    """The blend as a leaderboard row: its per-fold scores come from the blended OOF predictions."""
    y = ctx.y[ctx.splits.train]
    sign = 1 if ctx.scorer.greater_is_better else -1
    folds = [ctx.scorer.objective(y[v], oof[v], v) for _, v in ctx.splits.folds]
    members = board[board["candidate"].isin(list(blend.weights))]
    row = {
        "candidate": "blend", "metric": ctx.scorer.name,
        "cv_mean": round(sign * float(np.mean(folds)), 6), "cv_std": round(float(np.std(folds)), 6),
        "cv_oof": round(sign * blend.score, 6), "fit_time_s": round(float(members["fit_time_s"].sum()), 2),
        "trials": 0, "pruned": 0, "failed": 0, "blend_weight": 1.0,
        "best_params": ", ".join(f"{k}={w:.3f}" for k, w in blend.weights.items()), "note": "weighted average of the members' predictions (greedy ensemble selection on OOF)",
    }
    return pd.DataFrame([row])


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _members_for_blend(states: list[CandidateState]) -> dict[str, TrialResult]:
    """The best trial of each candidate that is within fold noise of the leader (at most 3):
    a clearly weaker model earns blend weight on OOF predictions mostly by chance."""
    bests = sorted((s.best for s in states if s.best is not None), key=lambda r: r.score, reverse=True)
    leader = bests[0]
    margin = max(3 * float(np.std(leader.fold_scores)), 0.01 * abs(leader.score), 1e-9)
    return {r.candidate: r for r in bests[:MAX_MEMBERS] if r.score >= leader.score - margin}


def _refit_estimate(ctx: _Context, states: list[CandidateState], rows: int | None = None, scaled: bool = True) -> float:
    """Seconds to refit the current leaders on `rows` rows (default: all): a fold fit of the
    leader's best configuration (and its preprocessing) scaled by the ratio of rows, as fits of
    these models grow about linearly, and for a regressor's booster by its extra rounds
    (`scaled`: as `refit_rounds_scale` says, else the folds' rounds). The leaders are refitted
    side by side as the search's folds are (`fold_workers`), so the estimate is the longest
    core's share."""
    leaders = sorted((s for s in states if s.best is not None), key=lambda s: s.best.score, reverse=True)[:3]  # type: ignore[union-attr]
    n_folds = max(1, len(ctx.splits.folds))
    prep = sum(ctx.cache.seconds.values()) / n_folds / max(1, len(ctx.cache.seconds))
    refit_rows = len(ctx.frame) if rows is None else rows
    scale = max(1.0, refit_rows / max(1.0, _fold_rows(ctx)))
    rounds = refit_rounds_scale(ctx.task.problem, refit_rows, _fold_rows(ctx)) / 1.1 if scaled else 1.0  # 1 for classifiers

    def fit(s: CandidateState) -> float:
        own = s.best.fit_seconds if s.best is not None else []  # the configuration that is refitted, not the trials' average
        seconds = float(np.mean(own)) if own else (s.fold_seconds or 0.0)
        return seconds * (rounds if s.model.early_stopping else 1.0)

    return makespan([scale * (fit(s) + prep) for s in leaders], fold_workers(ctx.task, refit_rows, len(leaders)))


def makespan(seconds: list[float], workers: int) -> float:
    """Wall time of jobs run `workers` at a time, longest first, each to the least busy worker."""
    loads = [0.0] * max(1, workers)
    for job in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += job
    return max(loads)


def _fold_rows(ctx: _Context) -> float:
    """Mean training rows of a CV fold (0 without folds)."""
    return float(np.mean([len(tr) for tr, _ in ctx.splits.folds])) if ctx.splits.folds else 0.0


def _planned_refits(ctx: _Context, states: list[CandidateState]) -> float:
    """Seconds (from fold fits timed on this machine) of the refits the search leaves time for.

    Time-ordered folds: the training part (for the hold-out), then all rows; random folds:
    all rows. Refits that would take over a third of the budget are planned with the folds'
    rounds (a regressor's refit runs more, `refit_rounds_scale`) and, if that is still too
    long, not at all: the fold models ship instead.

    A sampled search plans a refit of as many training rows as a quarter of the budget buys
    (`_refit_rows`): on 1,000,000 rows a refit of all of them did not fit, and the fold models
    of the sample shipped instead. Not when that buys fewer than the MIN_REFIT_FOLDS fold sizes
    `_refit_rows` asks for: the refit would not run, and the search can use the time (on the
    1,000,000-row bench, 84 s of a 300 s budget were left unused that way)."""
    if ctx.sampled:
        rows = len(_training_part(ctx))
        full = _refit_estimate(ctx, states, rows)
        planned = min(full, ctx.budget / 4)
        return planned if rows * planned >= MIN_REFIT_FOLDS * _fold_rows(ctx) * max(full, 1e-9) else 0.0
    partial = ctx.spec.split.strategy == "time"
    for scaled in (True, False):  # a regressor's refit with the folds' rounds, before none at all
        refits = (_refit_estimate(ctx, states, len(_training_part(ctx)), scaled) if partial else 0.0) + _refit_estimate(ctx, states, scaled=scaled)
        if refits <= ctx.budget / 3:
            return refits
    return 0.0


def _after_search_estimate(ctx: _Context) -> float:
    """Idle-machine seconds of what follows the search: blend and calibration, hold-out
    scoring, and the caller's own outputs (`after_seconds`: report, bundle, tracking)."""
    cells = len(ctx.frame) * max(1, len(ctx.spec.feature_columns()))
    return 1.0 + 2e-7 * cells + ctx.after_seconds


def _fold_parts(result: TrialResult, cache: FoldCache, time_ordered: bool) -> list[ModelPart]:
    """Fold models as a stand-in for a refit; time-ordered splits keep only the latest window."""
    folds = cache.get(result.prep)
    parts = [ModelPart(f.preprocessor, m) for f, m in zip(folds, result.models, strict=True)]
    return parts[-1:] if time_ordered else parts


def refit_rounds_scale(problem: str, refit_rows: float, fold_rows: float) -> float:
    """Boosting rounds of a refit as a multiple of the early-stopped folds' mean.

    Classifiers: 1.1. Regressors: the ratio of the refit's rows to the rows an early-stopped
    fold fit trained on (at least 1.1): with more rows a booster keeps finding structure for
    longer where the target is a strong signal. Measured on a 70/30 split (seed 1) of 8
    regression tables (ames, diamonds, Boston, Chicago, deliveries, hotel_rates, concrete,
    Wages), two starts each, mean test RMSE of 3 seeds: LightGBM -0.9 % on average (13 of 16
    better, Boston +1.2 to +1.5 % worse), XGBoost -0.6 % (12 of 16). On 9 binary tables the
    same scaling lowered test AUC on average (lending_club -0.003 to -0.005, Caravan -0.003),
    as did scaling by rows on simulated churn snapshots (-0.002), so classifiers keep 1.1."""
    if problem != "regression" or fold_rows <= 0:
        return 1.1
    return max(1.1, refit_rows / (fold_rows * (1 - stopping_share(int(fold_rows)))))


def _refit(result: TrialResult, state: CandidateState, frame: pd.DataFrame, y: np.ndarray, spec: Spec, task: Task, fold_rows: float, scaled: bool = True) -> ModelPart:
    """Fit preprocessing and model on all given rows, boosters with the CV's number of rounds
    scaled by `refit_rounds_scale` (`fold_rows`: mean training rows of a CV fold), or by 1.1
    when not `scaled`.

    Classifiers' rounds are not scaled up to the refit's rows: on simulated snapshots
    (time-ordered folds of 19k-43k rows, refit on 82k) rounds scaled by rows gave a 0.002
    lower hold-out AUC than the folds' mean x 1.1, for 31- and 7-leaf LightGBM alike."""
    from kpiml.features import build_preprocessor
    from kpiml.training._search import fit_rows

    flavour, prune = result.prep
    pre = build_preprocessor(spec.columns, flavour, task.problem, prune=prune, seed=task.seed)  # type: ignore[arg-type]
    X = np.asarray(pre.fit_transform(frame, y), dtype="float64")
    rows, weights = fit_rows(state, y, result.params.get("imbalance", "none"), np.random.default_rng(task.seed))
    known = [r for r in result.rounds if r]
    cap = state.max_rows or len(y)
    scale = refit_rounds_scale(task.problem, min(len(rows), cap), min(fold_rows, cap)) if scaled else 1.1
    rounds = int(np.ceil(np.mean(known) * scale - 1e-9)) if known else None  # 100 x 1.1 is 110, not 111
    params = {k: v for k, v in result.params.items() if k != "imbalance"}
    fitted = state.model.fit(params, X[rows], y[rows], task, weights=weights, rounds=rounds)
    return ModelPart(pre, fitted)


@dataclass
class _Context:
    spec: Spec
    frame: pd.DataFrame
    y: np.ndarray
    classes: list[str]
    splits: SplitPlan
    task: Task
    scorer: Scorer
    cache: FoldCache
    started: float
    budget: float
    notes: list[str]
    listener: Listener | None
    values: np.ndarray | None = None  # the KPI's value column, one per row of `frame`
    full_train: np.ndarray | None = None  # the whole training part when the search runs on a sample of it
    after_seconds: float = 0.0  # idle-machine seconds the caller needs after training (outputs)

    @property
    def sampled(self) -> bool:
        return self.full_train is not None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, message: str, best: float | None = None) -> None:
        if self.listener is not None:
            self.listener(message, self.elapsed(), best)


#: Most matrix cells (rows x feature columns) a search cross-validates on, whatever the budget:
#: every preprocessing flavour keeps its fold matrices for the whole search, so memory grows
#: with them. On the 1,000,000 x 50 bench a 300 s budget's 600,000 rows (30M cells) peaked at
#: 5.8 GB during the search. A fixed figure rather than one read from the machine's free
#: memory, so that the same data and spec give the same search on any machine.
MAX_SEARCH_CELLS = 16_000_000


def search_rows_cap(budget: float, n_features: int) -> int:
    """Most training rows the search cross-validates on: about 100,000 x budget matrix cells,
    and never more than MAX_SEARCH_CELLS.

    Only tables far larger than the budget are sampled: with 25,000 x budget cells (and the
    cap divided by the load), 166,000 simulated snapshot rows at a 60 s budget were searched
    on about 12,000 rows and the hold-out AUC fell out of the 0.02 the snapshot test allows.
    The chosen models are refitted on as many training rows as the budget allows.
    """
    width = max(1, n_features)
    return max(10_000, min(int(100_000 * budget / width), MAX_SEARCH_CELLS // width))


def _prepare(spec: Spec, frame: pd.DataFrame, budget: float, started: float, listener: Listener | None, scorer: Scorer | None) -> _Context:
    problem = spec.target.problem
    frame = frame.reset_index(drop=True)
    y, classes = encode_target(frame, spec)
    if problem != "regression" and len(classes) < 2:
        raise KpimlError(f"Target '{spec.target.column}' has a single class", fix="check the data or the target column")
    whole = plan_splits(frame, y, spec.split, problem)
    splits, sampled = search_sample(whole, y, search_rows_cap(budget, len(spec.feature_columns())), spec.split.seed)
    task = Task(problem, max(len(classes), 1), len(splits.train), seed=spec.split.seed, n_jobs=2)
    values = kpi_values(spec, frame) if problem == "binary" and economics_given(spec) else None
    scorer = scorer or _selection_scorer(spec, values, splits.train)
    train_frame = frame.iloc[splits.train].reset_index(drop=True)
    cache = FoldCache(spec.columns, train_frame, y[splits.train], splits.folds, problem, seed=spec.split.seed)
    return _Context(spec, frame, y, classes, splits, task, scorer, cache, started, budget, list(splits.notes), listener, values,
                    full_train=whole.train if sampled else None)


def _selection_scorer(spec: Spec, values: np.ndarray | None, train: np.ndarray) -> Scorer:
    """The KPI on OOF predictions when a binary KPI has economics, else the spec's primary metric."""
    problem = spec.target.problem
    if problem == "binary" and economics_given(spec):
        return kpi_scorer(spec, None if values is None else values[train], len(train))
    primary = spec.metrics.primary or DEFAULT_PRIMARY[problem]
    if primary in KPI_METRICS:
        raise KpimlError(f"metrics.primary is '{primary}', a KPI metric, but kpi.economics does not value decisions",
                         fix="fill kpi.economics (or pass --benefit-tp/--cost-fp or a template), or set metrics.primary to roc_auc")
    return get_scorer(primary, problem)


def _run_search(ctx: _Context) -> tuple[list[CandidateState], list[str]]:
    states, notes = _states(ctx.spec, ctx.task.problem, ctx.task.n_rows, ctx.task.seed)
    options, reason = _imbalance_options(ctx.spec, ctx.y, ctx.task.problem)
    notes += [reason] if reason else []
    setup = SearchSetup(ctx.task, ctx.scorer, ctx.cache, ctx.y[ctx.splits.train], imbalance=options)
    def deadline(states: list[CandidateState]) -> float:
        # refit estimates come from fold fits timed on this machine as it is; only the idle-machine
        # estimate of what follows the search is scaled by the current slowdown
        # never more than MAX_RESERVE of the budget: at load 6 on 2 cores the full reserve left the
        # search so little that no booster trial finished (hotel_rates shipped the linear baseline)
        reserve = 1.0 + 0.02 * ctx.budget + _planned_refits(ctx, states) + slowdown() * _after_search_estimate(ctx)
        return ctx.started + ctx.budget - min(reserve, MAX_RESERVE * ctx.budget)

    setup.prune, why = _decide_pruning(setup, states, deadline(states))
    notes.append(why)
    sign = 1 if ctx.scorer.greater_is_better else -1

    def listener(state: CandidateState, result: TrialResult | None) -> None:
        best = max((s.best.score for s in states if s.best is not None), default=None)
        ctx.say(f"{state.model.name} trial {state.trials}", None if best is None else sign * best)

    search(setup, states, deadline, listener)
    if not any(s.best is not None for s in states):
        cheapest = min(states, key=lambda s: s.model.relative_cost)
        notes.append(f"no trial finished within the budget: {cheapest.model.name} defaults were run past it, so that a model exists")
        cheapest.exhausted = False
        cheapest.study.enqueue_trial(cheapest.model.defaults(ctx.task) | ({"imbalance": "none"} if len(options) > 1 else {}))
        run_trial(replace(setup, prune=False), cheapest, float("inf"))
    if not any(s.best is not None for s in states):
        raise KpimlError(f"No candidate finished a cross-validation within the budget of {ctx.budget:.0f} s", fix="raise --budget (or models.search.budget_seconds), or disable slow candidates in kpiml.yaml")
    ctx.cache.drop_matrices()
    return states, notes


def _blend_and_calibrate(ctx: _Context, members: dict[str, TrialResult]) -> tuple[Blend, ProbabilityCalibrator | None, np.ndarray, list[str]]:
    y = ctx.y[ctx.splits.train]
    smooth = get_scorer("log_loss", ctx.task.problem) if ctx.scorer.row_func is not None else None
    leader = max(members.values(), key=lambda r: r.score)
    noise = float(np.std(leader.fold_scores)) / np.sqrt(max(1, len(leader.fold_scores)))
    weights_noise = noise if smooth is None else _fold_noise(ctx, smooth, leader.oof)
    gains = {k: MEMBER_GAIN * weights_noise * REGISTRY[k].serving_cost for k in members}
    blend = select_blend({k: r.oof for k, r in members.items()}, y, ctx.scorer, weights_by=smooth, tolerance=noise, member_gain=gains)
    oof = combine({k: members[k].oof for k in blend.weights}, blend.weights)
    covered = ~np.isnan(oof if oof.ndim == 1 else oof[:, 0])
    sign = 1 if ctx.scorer.greater_is_better else -1
    notes = []
    if blend.used:
        how = f" (weights fitted by log-loss; its KPI is not below the best single model's by more than the KPI's fold noise, {noise:.4g})" if smooth else ""
        notes.append(f"blend of {', '.join(f'{k} {w:.2f}' for k, w in blend.weights.items())} chosen{how}: OOF {ctx.scorer.name} {sign * blend.score:.5f} vs {sign * blend.single_score:.5f} for {blend.single_best} alone")
    else:
        notes.append(f"{blend.single_best} alone: no blend of the best candidates beat it on OOF {ctx.scorer.name}")
    calibrator = None
    if ctx.task.problem != "regression":
        calibrator, _, reason = choose_calibration(oof[covered], y[covered], ctx.spec.models.search.calibration, ctx.task.seed)
        notes.append(reason)
    return blend, calibrator, oof, notes


def _fold_noise(ctx: _Context, scorer: Scorer, oof: np.ndarray) -> float:
    """Standard error of `scorer` on these OOF predictions: its spread over the folds / sqrt(folds)."""
    y = ctx.y[ctx.splits.train]
    scores = [scorer.objective(y[v], oof[v], v) for _, v in ctx.splits.folds if not np.isnan(oof[v] if oof.ndim == 1 else oof[v, 0]).any()]
    return float(np.std(scores)) / np.sqrt(max(1, len(scores))) if scores else 0.0


def _score_holdout(ctx: _Context, model: KpimlModel) -> tuple[dict[str, float], np.ndarray]:
    rows = ctx.splits.holdout
    pred = model.predict_matrix(ctx.frame.iloc[rows])
    return evaluate(ctx.task.problem, ctx.y[rows], pred, _metric_names(ctx)), pred


def _cv_metrics(ctx: _Context, oof: np.ndarray) -> dict[str, float]:
    """Metrics of the blended OOF predictions, the KPI among them (it is not in the registry)."""
    y = ctx.y[ctx.splits.train]
    covered = ~np.isnan(oof if oof.ndim == 1 else oof[:, 0])
    cv = evaluate(ctx.task.problem, y[covered], oof[covered], _metric_names(ctx))
    if ctx.scorer.row_func is not None:
        cv[ctx.scorer.name] = cv_figure(ctx.scorer, y[covered], oof[covered], np.flatnonzero(covered))
    return cv


def _kpi_outcome(ctx: _Context, calibrator: ProbabilityCalibrator | None, oof: np.ndarray) -> KpiOutcome | None:
    """The operating point from calibrated OOF predictions of the training rows (never the hold-out)."""
    if ctx.task.problem == "regression":
        return regression_outcome(ctx.spec)
    if ctx.task.problem != "binary":
        return None
    covered = np.flatnonzero(~np.isnan(oof[:, 0]))
    proba = calibrator.transform(oof[covered]) if calibrator is not None else oof[covered]
    rows = ctx.splits.train[covered]
    values = None if ctx.values is None else ctx.values[rows]
    return binary_outcome(ctx.spec, ctx.y[rows], proba[:, 1], values)


def _kpi_holdout(ctx: _Context, outcome: KpiOutcome | None, pred: np.ndarray) -> dict[str, float]:
    """KPI figures of the hold-out (scored once), with bootstrap intervals where they apply."""
    rows = ctx.splits.holdout
    if outcome is None or not len(rows):
        return {}
    if ctx.task.problem == "regression":
        return regression_holdout(outcome, ctx.spec, ctx.y[rows], pred)
    values = None if ctx.values is None else ctx.values[rows]
    return binary_holdout(outcome, ctx.y[rows], pred[:, 1], values, ctx.task.seed)


def _metric_names(ctx: _Context) -> list[str] | None:
    from kpiml.evaluation.metrics import DEFAULT_METRICS

    names = [ctx.scorer.name, *ctx.spec.metrics.secondary, *DEFAULT_METRICS[ctx.task.problem]]
    return list(dict.fromkeys(names))


def _refit_all(ctx: _Context, by_name: dict[str, CandidateState], members: dict[str, TrialResult], blend: Blend, rows: np.ndarray | None, scaled: bool = True) -> dict[str, list[ModelPart]]:
    """Each blend member refitted on `rows` of the frame (None: every row) with its CV settings,
    `fold_workers` at a time (the search's rule for folds), the slowest (by its folds' fit time)
    first. On hotel_rates the three members' refits took 12.8 s one after another; a fit that
    runs on one thread left the second core idle."""
    from concurrent.futures import ThreadPoolExecutor

    frame, y = (ctx.frame, ctx.y) if rows is None else (ctx.frame.iloc[rows].reset_index(drop=True), ctx.y[rows])
    names = sorted(blend.weights, key=lambda k: -float(np.mean(members[k].fit_seconds or [0.0])))

    def fit(k: str) -> list[ModelPart]:
        return [_refit(members[k], by_name[k], frame, y, ctx.spec, ctx.task, _fold_rows(ctx), scaled)]

    workers = fold_workers(ctx.task, len(y), len(names))
    if workers <= 1:
        return {k: fit(k) for k in names}
    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(names, pool.map(fit, names), strict=True))


def _time_left(ctx: _Context) -> float:
    """Seconds a refit may still take: what the budget leaves once the outputs are written."""
    return ctx.started + ctx.budget * 1.04 - time.monotonic() - 1.0 - slowdown() * ctx.after_seconds


def _training_part(ctx: _Context) -> np.ndarray:
    """Every row of the training part (the search may have seen a sample of it)."""
    return ctx.full_train if ctx.full_train is not None else ctx.splits.train


def _holdout_members(ctx: _Context, states: list[CandidateState], members: dict[str, TrialResult], blend: Blend) -> tuple[list[Member], int]:
    """The model the hold-out scores, and the training rows it was refitted on (0: fold models).

    Random folds: the average of the fold models. Time-ordered folds: each fold model saw an
    earlier, smaller window (on simulated snapshots the latest fold trained on about half the
    training part and scored 0.009 AUC below a refit on all of it), so the members are
    refitted on every training row when the budget allows; that refit ships when a refit on
    all rows does not fit. Else the latest fold model. A search on a sample of the training
    part is refitted likewise (its fold models saw only the sample), on all of it or on as many
    rows as the time left allows."""
    time_ordered = ctx.spec.split.strategy == "time"
    by_name = {s.model.name: s for s in states}
    rows = _refit_rows(ctx, [by_name[k] for k in blend.weights]) if time_ordered or ctx.sampled else None
    if rows is not None:
        ctx.say(f"refitting on {len(rows):,} training rows")
        parts = _refit_all(ctx, by_name, members, blend, rows)
    else:
        parts = {k: _fold_parts(members[k], ctx.cache, time_ordered) for k in blend.weights}
    return [Member(k, w, members[k].params, parts[k]) for k, w in blend.weights.items()], 0 if rows is None else len(rows)


def _refit_rows(ctx: _Context, leaders: list[CandidateState]) -> np.ndarray | None:
    """Training rows a refit can take in the time left: all of them, or for a sampled search
    the most (at least MIN_REFIT_FOLDS folds' rows) that fit, drawn at random; None when none fit."""
    rows = _training_part(ctx)
    per_row = _refit_estimate(ctx, leaders, len(rows)) / len(rows)
    fits = int(_time_left(ctx) / max(per_row, 1e-12))
    if fits >= len(rows):
        return rows
    if not ctx.sampled or fits < MIN_REFIT_FOLDS * _fold_rows(ctx):
        return None
    return np.sort(np.random.default_rng(ctx.task.seed).choice(rows, fits, replace=False))


def _final_members(ctx: _Context, states: list[CandidateState], members: dict[str, TrialResult], blend: Blend, scored: list[Member] | None) -> tuple[list[Member], str]:
    """Refit every blend member on all rows if the estimate fits the budget, else ship `scored`
    (the training-part refit the hold-out scored) when given, else the fold models."""
    by_name = {s.model.name: s for s in states}
    chosen = [by_name[k] for k in blend.weights]
    estimate, plain = _refit_estimate(ctx, chosen), _refit_estimate(ctx, chosen, scaled=False)
    time_ordered = ctx.spec.split.strategy == "time"
    if scored is not None and ctx.sampled:
        return scored, "shipped the refit that the hold-out scored (the search saw a sample; the hold-out adds little to that many rows)"
    if plain > _time_left(ctx) and scored is not None:
        return scored, f"shipped the refit on the {len(_training_part(ctx)):,} training rows that the hold-out scored: a refit on all rows (about {plain:.0f} s) did not fit in the budget"
    if plain > _time_left(ctx):
        parts = {k: _fold_parts(members[k], ctx.cache, time_ordered) for k in blend.weights}
        how = f"shipped the {'latest fold model' if time_ordered else 'average of the cross-validation fold models'}: a refit on all rows (about {plain:.0f} s) did not fit in the budget"
    else:
        ctx.say("refitting on all rows")
        scaled = estimate <= _time_left(ctx)
        parts = _refit_all(ctx, by_name, members, blend, None, scaled)
        how = f"refitted on all {len(ctx.frame):,} rows (training part and hold-out) after the hold-out was scored"
        if not scaled and estimate > plain:
            how += f", with the folds' boosting rounds: more rounds for the extra rows (about {estimate:.0f} s) did not fit in the budget"
    out = [Member(k, w, {kk: vv for kk, vv in members[k].params.items()}, parts[k]) for k, w in blend.weights.items()]
    return out, how


def train_model(spec: Spec, frame: pd.DataFrame, *, budget: float | None = None, started: float | None = None, listener: Listener | None = None,
                scorer: Scorer | None = None, after_seconds: float = 0.0) -> TrainResult:
    """Search, blend, calibrate, score the hold-out once and build the final model.

    `scorer` overrides the spec's primary metric: every selection (trials, blend) is made by
    it on out-of-fold predictions, so a profit scorer plugs in here. `after_seconds` is what
    the caller still has to do within the budget once this returns (on an idle machine; it
    is scaled by the machine's load): the search stops early enough to leave it.

    BLAS runs on one thread below 100,000 rows, as the boosters do (`booster_threads`): on
    matrices of a few thousand rows two OpenBLAS threads made a logistic fit 4x slower on a
    busy 2-core machine (measured), and every trial the search cannot run costs accuracy.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1 if len(frame) < 100_000 else None, user_api="blas"):
        return _train_model(spec, frame, budget=budget, started=started, listener=listener, scorer=scorer, after_seconds=after_seconds)


def _train_model(spec: Spec, frame: pd.DataFrame, *, budget: float | None, started: float | None, listener: Listener | None, scorer: Scorer | None, after_seconds: float) -> TrainResult:
    started = time.monotonic() if started is None else started
    budget = float(budget or spec.models.search.budget_seconds)
    ctx = _prepare(spec, frame, budget, started, listener, scorer)
    ctx.after_seconds = after_seconds
    states, notes = _run_search(ctx)
    members = _members_for_blend(states)
    blend, calibrator, oof, blend_notes = _blend_and_calibrate(ctx, members)
    scored, refitted = _holdout_members(ctx, states, members, blend)
    kw: dict[str, Any] = {"problem": ctx.task.problem, "classes": ctx.classes, "calibrator": calibrator, "positive": spec.target.positive, "feature_columns": [c.name for c in spec.feature_columns()]}
    outcome = _kpi_outcome(ctx, calibrator, oof)
    holdout, holdout_pred = _score_holdout(ctx, KpimlModel(members=scored, **kw))
    holdout.update(_kpi_holdout(ctx, outcome, holdout_pred))
    final, how = _final_members(ctx, states, members, blend, scored if refitted else None)
    metrics = {
        "problem": ctx.task.problem,
        "primary_metric": ctx.scorer.name,
        "cv": _cv_metrics(ctx, oof),
        "holdout": holdout,
        "rows": {"train": len(_training_part(ctx)), "search": len(ctx.splits.train), "holdout": len(ctx.splits.holdout), "folds": len(ctx.splits.folds)},
        "model": {"members": blend.weights, "calibration": getattr(calibrator, "method", "none"), "final_fit": how},
        "seconds": round(ctx.elapsed(), 2),
    }
    if outcome is not None:
        metrics["operating_point"] = outcome.summary()
    why = "the search saw a sample of them" if ctx.sampled else "time-ordered folds train on earlier, smaller windows"
    which = "all" if refitted == len(_training_part(ctx)) else f"a random {refitted:,} of the {len(_training_part(ctx)):,}"
    scored_how = [f"hold-out scored by the members refitted on {which} training rows ({why})"] if refitted else []
    decisions = ctx.notes + notes + blend_notes + (outcome.notes if outcome else []) + scored_how + [how]
    board = _leaderboard(states, ctx.scorer, blend)
    if blend.used:
        board = pd.concat([_blend_row(ctx, blend, oof, board), board], ignore_index=True)
    model = KpimlModel(members=final, **kw)
    if outcome is not None and outcome.point is not None and outcome.point.ranking == "probability" and outcome.point.threshold is not None:
        model.threshold = outcome.point.threshold
    return TrainResult(model, board, metrics, decisions, outcome, (ctx.splits.holdout, holdout_pred))
