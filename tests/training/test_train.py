"""End-to-end tests of `train_model` on small real-shaped tables for each problem type."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpiml.planning import build_plan
from kpiml.spec import Candidate
from kpiml.training import train_model


def _table(n: int, problem: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    charges = rng.normal(60, 20, n).round(2)
    z = -0.05 * tenure + (plan == "basic") * 1.2 + 0.02 * (charges - 60) + rng.normal(scale=0.7, size=n)
    frame = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(n)], "tenure": tenure, "plan": plan, "charges": charges, "paperless": rng.choice(["Yes", "No"], n)})
    if problem == "binary":
        frame["churn"] = np.where(z > np.quantile(z, 0.7), "left", "stayed")
    elif problem == "multiclass":
        frame["segment"] = np.select([z < -1.5, z < 0], ["low", "mid"], "high")
    else:
        frame["spend"] = (100 + 30 * z).round(2)
    return frame


def _spec_and_frame(tmp_path: Path, problem: str, n: int = 700, models: tuple[str, ...] = ("logistic", "lightgbm")):
    target = {"binary": "churn", "multiclass": "segment", "regression": "spend"}[problem]
    path = tmp_path / f"{problem}.csv"
    _table(n, problem).to_csv(path, index=False)
    plan = build_plan(path, target=target, positive="left" if problem == "binary" else None)
    plan.spec.models.candidates = [Candidate(name=m) for m in models]
    return plan.spec, plan.frame


def test_binary_training_searches_blends_calibrates_and_scores_holdout(tmp_path: Path) -> None:
    """Check a binary run: every candidate on the leaderboard, a useful model, budget respected."""
    spec, frame = _spec_and_frame(tmp_path, "binary", models=("logistic", "lightgbm", "xgboost", "random_forest"))
    start = time.monotonic()
    result = train_model(spec, frame, budget=14)
    elapsed = time.monotonic() - start
    assert elapsed < 14 * 1.1 + 1
    board = result.leaderboard
    assert set(board["candidate"]) - {"blend"} == {"logistic", "logistic_spline", "lightgbm", "xgboost", "random_forest"}
    assert {"cv_mean", "cv_std", "fit_time_s", "trials"} <= set(board.columns)
    assert result.metrics["holdout"]["roc_auc"] > 0.75 and result.metrics["cv"]["roc_auc"] > 0.75
    assert result.metrics["model"]["calibration"] in ("none", "sigmoid", "isotonic")
    scores = result.model.score(frame.head(50))
    assert ((scores >= 0) & (scores <= 1)).all()
    assert result.model.classes == ["stayed", "left"]
    assert any("Brier" in d or "calibrat" in d for d in result.decisions)


def test_multiclass_training_gives_class_probabilities(tmp_path: Path) -> None:
    """Check that a three-class target trains end to end and predicts rows summing to one."""
    spec, frame = _spec_and_frame(tmp_path, "multiclass")
    result = train_model(spec, frame, budget=8)
    pred = result.model.predict_matrix(frame.head(20))
    assert pred.shape == (20, 3) and np.allclose(pred.sum(axis=1), 1)
    assert set(result.model.decisions_from(pred)) <= {"high", "low", "mid"}
    assert result.metrics["holdout"]["accuracy"] > 0.5


def test_regression_training_beats_the_mean(tmp_path: Path) -> None:
    """Check that a numeric target trains end to end with a hold-out RMSE below the target's spread."""
    spec, frame = _spec_and_frame(tmp_path, "regression")
    result = train_model(spec, frame, budget=8)
    assert result.metrics["primary_metric"] == "rmse"
    assert result.metrics["holdout"]["rmse"] < frame["spend"].std()
    assert result.model.score(frame.head(5)).shape == (5,)


@pytest.mark.parametrize(("problem", "scaled", "expected"), [("regression", True, 209), ("regression", False, 110), ("binary", True, 110)])
def test_refitted_boosters_run_more_rounds_only_for_a_regression_target(tmp_path: Path, problem: str, scaled: bool, expected: int) -> None:
    """Check that a regressor's booster refitted on 1,000 rows after folds of 600 (80 % of them fitted, the rest stopping early) runs 100 x 1000 / 480 rounds, a classifier's (or an unscaled refit) 100 + 10 %."""
    from kpiml.training._candidates import REGISTRY, Task
    from kpiml.training._search import CandidateState, TrialResult
    from kpiml.training._train import _refit

    spec, frame = _spec_and_frame(tmp_path, problem, n=1000, models=("lightgbm",))
    y = frame["spend"].to_numpy(float) if problem == "regression" else (frame["churn"] == "left").to_numpy(int)
    model = REGISTRY["lightgbm"]
    task = Task(problem, 0 if problem == "regression" else 2, len(frame))
    result = TrialResult("lightgbm", 0, {**model.defaults(task), "imbalance": "none"}, ("boost", False), np.zeros(0), [0.0], 0.0, 0.0, [], [100] * 5)
    part = _refit(result, CandidateState(model, None), frame, y, spec, task, fold_rows=600.0, scaled=scaled)
    assert part.estimator.rounds == expected


def test_makespan_puts_the_longest_jobs_first_on_the_least_busy_worker() -> None:
    """Check the wall-time estimate of refits run side by side: one worker sums, two split the work."""
    from kpiml.training._train import makespan

    assert makespan([3.0, 2.0, 1.0], 1) == 6.0
    assert makespan([3.0, 2.0, 1.0], 2) == 3.0
    assert makespan([5.0, 1.0, 1.0], 2) == 5.0
    assert makespan([], 2) == 0.0


@pytest.mark.parametrize("strategy", ["grouped", "time"])
def test_grouped_and_time_strategies_train(tmp_path: Path, strategy: str) -> None:
    """Check that grouped and time-ordered validation run through the whole training."""
    spec, frame = _spec_and_frame(tmp_path, "binary", n=500)
    frame["store"] = np.arange(len(frame)) % 40
    frame["week"] = pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(len(frame)) // 10, unit="W")
    from kpiml.spec import ColumnPlan

    spec.columns = [*spec.columns, ColumnPlan(name="store", role="categorical", use="group"), ColumnPlan(name="week", role="datetime", use="time")]
    spec.split = spec.split.model_copy(update={"strategy": strategy, "group_column": "store", "time_column": "week"})
    result = train_model(spec, frame, budget=8)
    assert result.metrics["holdout"]["roc_auc"] > 0.6
