"""The search loop: Optuna studies per candidate, scheduled under one wall-clock deadline.

Each candidate owns a TPE study over its own space; its strong default configuration runs
first, cheapest families first. Afterwards the scheduler gives the next trial to the
candidate with the least time spent relative to its promise (how close its best score is to
the overall best), so cheap, promising families get most of the budget. Within a trial,
folds report their running score and Optuna's percentile pruner stops trials that are
clearly behind after a fold or two. Every score comes from a pluggable `Scorer` applied to
out-of-fold predictions, which is what lets a profit scorer drive the search later.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kpiml.evaluation.metrics import Scorer
from kpiml.training._candidates import THREADED_ROWS, CandidateModel, Task
from kpiml.training._estimators import Fitted
from kpiml.training._folds import FoldCache, PreparedFold, PrepKey


class OutOfTime(Exception):
    """The deadline would pass before the next fold finishes."""


@dataclass
class TrialResult:
    """A fully cross-validated configuration with its out-of-fold predictions and fold models."""

    candidate: str
    number: int
    params: dict[str, Any]
    prep: PrepKey
    oof: np.ndarray
    fold_scores: list[float]
    score: float
    seconds: float
    models: list[Fitted]
    rounds: list[int | None]
    fit_seconds: list[float] = field(default_factory=list)  # each fold's own fit time (also when folds run side by side)


@dataclass
class CandidateState:
    model: CandidateModel
    study: Any
    max_rows: int | None = None
    best: TrialResult | None = None
    trials: int = 0
    pruned: int = 0
    failed: int = 0
    seconds: float = 0.0
    fold_seconds: float | None = None
    exhausted: bool = False
    stale: int = 0  # finished trials since the best last improved
    notes: list[str] = field(default_factory=list)


@dataclass
class SearchSetup:
    task: Task
    scorer: Scorer
    cache: FoldCache
    y: np.ndarray
    imbalance: tuple[str, ...] = ("none",)
    prune: bool = False


Listener = Callable[[CandidateState, TrialResult | None], None]


def new_study(seed: int) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=6, multivariate=True)
    pruner = optuna.pruners.PercentilePruner(40.0, n_startup_trials=3, n_warmup_steps=0)
    return optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)


def class_weights(y: np.ndarray) -> np.ndarray:
    """'balanced' sample weights: every class carries the same total weight."""
    counts = np.bincount(y.astype(int))
    return (len(y) / (len(counts) * counts))[y.astype(int)]


def _undersample(y: np.ndarray, rng: np.random.Generator, ratio: float = 3.0) -> np.ndarray:
    """Positions keeping every minority row and at most `ratio` times as many of each other class."""
    counts = np.bincount(y.astype(int))
    cap = int(ratio * counts[counts > 0].min())
    keep = [rng.permutation(np.flatnonzero(y == c))[:cap] for c in range(len(counts))]
    return np.sort(np.concatenate(keep))


def fit_rows(state: CandidateState, y: np.ndarray, imbalance: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Training rows of a fold (subsampled / undersampled as configured) and their weights."""
    rows = np.arange(len(y))
    if imbalance == "undersample":
        rows = _undersample(y, rng)
    if state.max_rows is not None and len(rows) > state.max_rows:
        rows = np.sort(rng.choice(rows, state.max_rows, replace=False))
    weights = class_weights(y[rows]) if imbalance == "class_weight" else None
    return rows, weights


def fold_workers(task: Task, fold_rows: int, n_folds: int) -> int:
    """Folds fitted at once: one per core below the rows where boosters thread themselves
    (`booster_threads`), else one. A fit on one thread leaves the other core idle; two folds on
    two threads need no barrier between them, so unlike a two-thread booster they do not stall
    each other on a busy machine, and the same rows and seeds give the same models."""
    return 1 if fold_rows >= THREADED_ROWS or task.n_jobs <= 1 else max(1, min(task.n_jobs, n_folds))


def fold_rounds(task: Task, fold_rows: int, n_folds: int) -> int:
    """Fold fits one after another in a trial (folds run `fold_workers` at a time)."""
    return math.ceil(n_folds / fold_workers(task, fold_rows, n_folds))


def _fit_fold(state: CandidateState, setup: SearchSetup, params: dict[str, Any], fold: PreparedFold, rows: np.ndarray, weights: np.ndarray | None) -> tuple[Fitted, np.ndarray, float]:
    """Fit and predict one fold; returns the model, its predictions and its own seconds."""
    start = time.monotonic()
    y_fold = setup.y[fold.train]
    fitted = state.model.fit(params, fold.X_train[rows], y_fold[rows], setup.task, weights=weights)
    return fitted, fitted.predict(fold.X_valid), time.monotonic() - start


def evaluate(setup: SearchSetup, state: CandidateState, trial: Any, params: dict[str, Any], imbalance: str, deadline: float) -> TrialResult:
    """Cross-validate one configuration; raises TrialPruned or OutOfTime part-way."""
    import optuna

    key: PrepKey = (state.model.flavour, setup.prune)
    start = time.monotonic()
    if not setup.cache.has(key) and state.fold_seconds is not None and start + state.fold_seconds > deadline:
        raise OutOfTime
    prepared = setup.cache.get(key)
    y, problem = setup.y, setup.task.problem
    oof = np.full((len(y), setup.task.n_classes) if problem != "regression" else len(y), np.nan)
    scores: list[float] = []
    models: list[Fitted] = []
    seconds_each: list[float] = []
    rng = np.random.default_rng(setup.task.seed)
    plans = [fit_rows(state, y[fold.train], imbalance, rng) for fold in prepared]  # drawn in fold order, however the folds run
    workers = fold_workers(setup.task, len(prepared[0].train), len(prepared))
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        for first in range(0, len(prepared), workers):
            if state.fold_seconds is not None and time.monotonic() + state.fold_seconds * math.ceil((len(prepared) - first) / workers) > deadline:
                raise OutOfTime  # the whole trial cannot finish: stop now rather than at its last fold
            chunk = range(first, min(first + workers, len(prepared)))
            fit = lambda i: _fit_fold(state, setup, params, prepared[i], *plans[i])  # noqa: E731
            done = list(pool.map(fit, chunk)) if pool is not None else [fit(i) for i in chunk]
            for i, (fitted, pred, seconds) in zip(chunk, done, strict=True):
                fold = prepared[i]
                oof[fold.valid] = pred
                scores.append(setup.scorer.objective(y[fold.valid], pred, fold.valid))
                models.append(fitted)
                seconds_each.append(seconds)
                _update_fold_time(state, seconds)
                if trial is not None:
                    trial.report(float(np.mean(scores)), i)
            if trial is not None and chunk[-1] < len(prepared) - 1 and trial.should_prune():
                raise optuna.TrialPruned
    covered = ~np.isnan(oof if oof.ndim == 1 else oof[:, 0])
    score = setup.scorer.objective(y[covered], oof[covered], np.flatnonzero(covered))
    return TrialResult(state.model.name, trial.number if trial is not None else -1, {**params, "imbalance": imbalance}, key, oof, scores, score,
                       time.monotonic() - start, models, [m.rounds for m in models], seconds_each)


def _update_fold_time(state: CandidateState, seconds: float) -> None:
    """Seconds one fold fit takes (its own time, also when folds run side by side), smoothed."""
    previous = state.fold_seconds
    state.fold_seconds = seconds if previous is None else 0.7 * previous + 0.3 * seconds


def run_trial(setup: SearchSetup, state: CandidateState, deadline: float) -> TrialResult | None:
    """Ask the candidate's study for a configuration, cross-validate it and tell the outcome."""
    import optuna

    trial = state.study.ask()
    start = time.monotonic()
    params = state.model.space(trial, setup.task)
    imbalance = trial.suggest_categorical("imbalance", list(setup.imbalance)) if len(setup.imbalance) > 1 else "none"
    result = None
    try:
        result = evaluate(setup, state, trial, params, imbalance, deadline)
        state.study.tell(trial, result.score)
        if state.best is None or result.score > state.best.score:
            state.best, state.stale = result, 0
        else:
            state.stale += 1
    except optuna.TrialPruned:
        state.pruned += 1
        state.stale += 1
        state.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    except OutOfTime:
        state.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    except (ValueError, ArithmeticError, MemoryError) as exc:  # a configuration that cannot fit
        state.failed += 1
        state.notes.append(f"trial {trial.number} failed: {type(exc).__name__}: {exc}"[:300])
        state.study.tell(trial, state=optuna.trial.TrialState.FAIL)
    finally:
        state.trials += 1
        state.seconds += time.monotonic() - start
    return result


def _promise(state: CandidateState, best: TrialResult) -> float:
    """1 for the leader, falling towards 0 as the candidate's best trails by more fold noise."""
    if state.best is None:
        return 0.0
    spread = float(np.std(best.fold_scores)) / math.sqrt(max(1, len(best.fold_scores)))
    scale = max(spread, 1e-4 * abs(best.score), 1e-9)
    if state.model.max_trials is not None and state.trials >= state.model.max_trials:
        return 0.0
    return math.exp(-(best.score - state.best.score) / scale) * 0.9 ** max(0, state.stale - 3)


def _fold_cost(state: CandidateState, states: list[CandidateState]) -> float | None:
    """Measured seconds per fold, or a guess from another measured candidate's relative cost."""
    if state.fold_seconds is not None:
        return state.fold_seconds
    known = [s.fold_seconds / s.model.relative_cost for s in states if s.fold_seconds is not None]
    return state.model.relative_cost * float(np.median(known)) if known else None


def pick_next(states: list[CandidateState], now: float, deadline: float, rounds: int) -> CandidateState | None:
    """Defaults of untried candidates first (if they can finish), then the least time spent
    per unit of promise, so that cheap, promising families get the budget. A trial takes
    `rounds` fold fits one after another (`fold_rounds`)."""
    live = [s for s in states if not s.exhausted]
    for s in (s for s in live if s.trials == 0):
        cost = _fold_cost(s, states)
        if cost is None or now + cost * rounds < now + 0.4 * (deadline - now):
            return s
        s.exhausted = True
        s.notes.append(f"skipped: its first trial would take about {cost * rounds:.0f} s of the {deadline - now:.0f} s left")
    leaders = [s.best for s in live if s.best is not None]
    if not leaders:
        return None
    best = max(leaders, key=lambda r: r.score)
    options = []
    for s in live:
        trial_cost = (s.fold_seconds or 0.0) * rounds
        promise = _promise(s, best)
        if promise < 1e-6 or now + trial_cost > deadline:  # a trial that cannot finish is stopped part-way (OutOfTime): all waste
            continue
        options.append(((s.seconds + trial_cost) / promise, s))
    return min(options, key=lambda o: o[0])[1] if options else None


Deadline = Callable[[list[CandidateState]], float]


def search(setup: SearchSetup, states: list[CandidateState], deadline: Deadline, listener: Listener | None = None) -> None:
    """Run trials until the deadline (re-estimated after each trial, as it reserves time for
    refitting the current leaders); states carry every candidate's best trial and counts."""
    folds = setup.cache.folds
    rounds = fold_rounds(setup.task, len(folds[0][0]), len(folds)) if folds else 1
    for state in states:
        for config in state.model.starts(setup.task)[state.trials :]:
            state.study.enqueue_trial({**config, **({"imbalance": "none"} if len(setup.imbalance) > 1 else {})})
    while time.monotonic() < (end := deadline(states)):
        picked = pick_next(states, time.monotonic(), end, rounds)
        if picked is None:
            break
        state = picked
        try:
            result = run_trial(setup, state, end)
        except OutOfTime:
            state.exhausted = True
            state.notes.append("no trial finished within the budget" if state.best is None else "its next trial would not finish within the budget")
            continue
        if listener is not None:
            listener(state, result)
