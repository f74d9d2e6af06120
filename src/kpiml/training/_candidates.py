"""Candidate model families, each owning its search space, defaults and fitting recipe.

As in FLAML's `search_space`, a learner knows the ranges worth searching for it and a
strong first configuration to try; the search loop only schedules trials. Boosters train
with early stopping on an inner validation split of the training fold and remember the best
number of rounds, so the final refit can use it without a validation split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from kpiml.training._estimators import (
    CatBoostFitted,
    Fitted,
    LightGBMFitted,
    MarginClassifier,
    SklearnFitted,
    XGBoostFitted,
)

CLASSIFICATION = ("binary", "multiclass")
ALL_PROBLEMS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Task:
    """What a candidate needs to know about the problem to size its space and fit."""

    problem: str
    n_classes: int
    n_rows: int
    seed: int = 0
    n_jobs: int = 2


class CandidateModel:
    """Base class: `space` suggests parameters on an Optuna trial, `fit` returns a `Fitted`."""

    name = "abstract"
    flavour = "linear"
    problems: tuple[str, ...] = ALL_PROBLEMS
    default_max_rows: int | None = None
    early_stopping = False
    relative_cost = 1.0  # rough fit time of the defaults relative to LightGBM's, before it is measured
    max_trials: int | None = None  # small spaces are exhausted quickly: more trials only overfit CV
    serving_cost = 1.0  # predicting and explaining a row, as a share of a booster's (TreeSHAP); linear models cost next to nothing

    def space(self, trial: Any, task: Task) -> dict[str, Any]:
        raise NotImplementedError

    def defaults(self, task: Task) -> dict[str, Any]:
        """A strong first configuration, enqueued before the sampler explores."""
        raise NotImplementedError

    def starts(self, task: Task) -> list[dict[str, Any]]:
        """Configurations tried before the sampler takes over: the defaults, and for some
        families a second, differently regularised one, as FLAML and AutoGluon seed theirs."""
        return [self.defaults(task)]

    def fit(self, params: dict[str, Any], X: np.ndarray, y: np.ndarray, task: Task, *, weights: np.ndarray | None = None, rounds: int | None = None) -> Fitted:
        estimator = self.build(params, task)
        estimator.fit(X, y, **({"sample_weight": weights} if weights is not None else {}))
        return SklearnFitted(estimator, task.problem, task.n_classes)

    def build(self, params: dict[str, Any], task: Task) -> Any:
        raise NotImplementedError


class Logistic(CandidateModel):
    name = "logistic"
    problems = CLASSIFICATION
    relative_cost = 0.5
    max_trials = 10
    serving_cost = 0.0

    def space(self, trial: Any, task: Task) -> dict[str, Any]:
        return {"C": trial.suggest_float("C", 1e-3, 100.0, log=True)}

    def defaults(self, task: Task) -> dict[str, Any]:
        return {"C": 1.0}

    def build(self, params: dict[str, Any], task: Task) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=params["C"], max_iter=2000, tol=1e-4)


class SplineLogistic(Logistic):
    """Logistic regression on numeric columns expanded into linear splines ("spline" flavour).

    It keeps the linear model's stability on small tables while letting each number act
    non-linearly; it joins the plain logistic model wherever that is a candidate (on up to
    SPLINE_MAX_ROWS rows: the basis multiplies the numeric columns by six), and the
    search and blend judge both on the same folds."""

    name = "logistic_spline"
    flavour = "spline"
    relative_cost = 1.0

    def defaults(self, task: Task) -> dict[str, Any]:
        return {"C": 0.1}


#: Above this many rows the spline companion of the logistic model is not added.
SPLINE_MAX_ROWS = 100_000


class Linear(CandidateModel):
    name = "linear"
    problems = ("regression",)
    relative_cost = 0.2
    max_trials = 10
    serving_cost = 0.0

    def space(self, trial: Any, task: Task) -> dict[str, Any]:
        return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}

    def defaults(self, task: Task) -> dict[str, Any]:
        return {"alpha": 1.0}

    def build(self, params: dict[str, Any], task: Task) -> Any:
        from sklearn.linear_model import Ridge

        return Ridge(alpha=params["alpha"])


class RandomForest(CandidateModel):
    name = "random_forest"
    flavour = "tree"
    relative_cost = 4.0

    def space(self, trial: Any, task: Task) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 100, 300, log=True),
            "max_features": trial.suggest_float("max_features", 0.05, 1.0),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 64, log=True),
        }

    def defaults(self, task: Task) -> dict[str, Any]:
        return {"n_estimators": 200, "max_features": 0.5 if task.problem == "regression" else 0.25, "min_samples_leaf": 2}

    def build(self, params: dict[str, Any], task: Task) -> Any:
        from sklearn.ensemble import (
            ExtraTreesClassifier,
            ExtraTreesRegressor,
            RandomForestClassifier,
            RandomForestRegressor,
        )

        forests = {"random_forest": (RandomForestClassifier, RandomForestRegressor), "extra_trees": (ExtraTreesClassifier, ExtraTreesRegressor)}
        cls = forests[self.name][task.problem == "regression"]
        return cls(**params, n_jobs=task.n_jobs, random_state=task.seed)


class ExtraTrees(RandomForest):
    name = "extra_trees"

    def defaults(self, task: Task) -> dict[str, Any]:
        return {"n_estimators": 200, "max_features": 0.7 if task.problem == "regression" else 0.4, "min_samples_leaf": 2}


#: Below this many training rows boosters start with small, regularised trees (see defaults).
SMALL_ROWS = 5000
#: From this many rows a booster fit uses the idle cores itself; below it, folds run side by side.
THREADED_ROWS = 100_000


def booster_threads(task: Task, n_rows: int | None = None) -> int:
    """Threads for a booster fit of `n_rows` rows (default: the task's): one below 100k rows,
    and one while the machine has no idle core. OpenMP threads meet at a barrier after every
    histogram, so one thread that another process has descheduled stalls the others: on the
    shared 2-core machine at a load of 4-7, LightGBM and XGBoost fits of 170k-274k rows (150
    rounds) took 3-6x longer on two threads than on one, and 3-fold CV of 39k-87k-row folds
    2-5x longer (measured). On small data the threads wait for each other more than they work."""
    rows = task.n_rows if n_rows is None else n_rows
    if rows < THREADED_ROWS or task.n_jobs <= 1:
        return 1
    from kpiml.clock import idle_cores

    return max(1, min(task.n_jobs, idle_cores() + 1))


def stopping_share(n_rows: int) -> float:
    """Share of a training fold's rows a booster holds back to stop early (it fits on the rest)."""
    return 0.15 if n_rows >= 2000 else 0.2


def _inner_split(y: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Positions of an inner training / early-stopping split of one training fold."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    share = stopping_share(len(y))
    stratify = y if task.problem != "regression" and np.bincount(y.astype(int)).min() >= 2 else None
    return train_test_split(positions, test_size=share, random_state=task.seed, stratify=stratify)


def _patience(learning_rate: float) -> int:
    """Early-stopping patience scaled to the learning rate: slow learners plateau longer."""
    return int(np.clip(3.0 / learning_rate, 30, 200))


class LightGBM(CandidateModel):
    name = "lightgbm"
    flavour = "boost"
    early_stopping = True

    def space(self, trial: Any, task: Task) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 2, 200, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.2, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
        }

    def defaults(self, task: Task) -> dict[str, Any]:
        """Regularised trees sized to the data: on a few thousand rows 8-leaf trees with an L2
        penalty beat LightGBM's 31 unpenalised leaves (measured by CV on four modeldata tables);
        from 5,000 rows on, 31 leaves at a faster rate, so that the first trial finishes early."""
        small = task.n_rows < SMALL_ROWS
        return {"learning_rate": 0.05 if small else 0.1, "num_leaves": 8 if small else 31, "min_child_samples": 10, "subsample": 0.8, "colsample_bytree": 0.6, "reg_lambda": 1.0, "reg_alpha": 1e-3}

    def starts(self, task: Task) -> list[dict[str, Any]]:
        """The defaults, then on 5,000 rows or more small, heavily regularised trees, then the
        defaults at a lower learning rate (more rounds, usually a little better).

        The defaults' 31 leaves of 10 rows suit strong signals (flights delays, diamond
        prices) but overfit noisy, imbalanced targets, where a leaf of 10 rows holds less than
        one positive: there 7 leaves of at least 100 rows with an L2 penalty of 5 and half the
        columns per tree gained CV AUC +0.016 (ISLR Default), +0.030 (modeldata lending_club),
        +0.002 (AER Fertility, DAAG nassCDS) and +0.004 (simulated churn snapshots, seeds 2
        and 3), at the same learning rate, for 1-2x the defaults' time. It is second, not
        first: on nycflights13 delays it was 0.003 AUC lower; and last for a regression target,
        where it did worst (diamonds 10 % and hotel_rates 5 % worse in RMSE than the defaults),
        while the slower rate was the best start on hotel_rates."""
        first = self.defaults(task)
        slower = dict(first, learning_rate=first["learning_rate"] * 0.4)
        if task.n_rows < SMALL_ROWS:
            return [first, slower]
        regularised = dict(first, num_leaves=7, min_child_samples=100, reg_lambda=5.0, colsample_bytree=0.5)
        return [first, slower, regularised] if task.problem == "regression" else [first, regularised, slower]

    def _params(self, params: dict[str, Any], task: Task, n_rows: int) -> dict[str, Any]:
        out = dict(params, subsample_freq=1, n_jobs=booster_threads(task, n_rows), random_state=task.seed, verbose=-1)
        if task.problem == "multiclass":
            out.update(objective="multiclass", num_class=task.n_classes)
        else:
            out["objective"] = "binary" if task.problem == "binary" else "regression"
        return out

    def fit(self, params: dict[str, Any], X: np.ndarray, y: np.ndarray, task: Task, *, weights: np.ndarray | None = None, rounds: int | None = None) -> Fitted:
        import lightgbm as lgb

        p = self._params(params, task, len(y))
        lr = float(params["learning_rate"])
        if rounds is not None:
            booster = lgb.train(p, lgb.Dataset(X, y, weight=weights), num_boost_round=rounds)
            return LightGBMFitted(booster, task.problem)
        fit_idx, stop_idx = _inner_split(y, task)
        w = (None, None) if weights is None else (weights[fit_idx], weights[stop_idx])
        train_set = lgb.Dataset(X[fit_idx], y[fit_idx], weight=w[0])
        valid_set = lgb.Dataset(X[stop_idx], y[stop_idx], weight=w[1], reference=train_set)
        booster = lgb.train(p, train_set, num_boost_round=5000, valid_sets=[valid_set], callbacks=[lgb.early_stopping(_patience(lr), verbose=False)])
        return LightGBMFitted(booster, task.problem, rounds=max(1, booster.best_iteration))


class XGBoost(CandidateModel):
    name = "xgboost"
    flavour = "boost"
    early_stopping = True

    def space(self, trial: Any, task: Task) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 10),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 50.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.2, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
        }

    def defaults(self, task: Task) -> dict[str, Any]:
        """Shallow, column-subsampled trees on small data (better CV than depth 5 on a few
        thousand rows), depth 6 at a faster rate from 5,000 rows on."""
        if task.n_rows < SMALL_ROWS:
            return {"learning_rate": 0.05, "max_depth": 4, "min_child_weight": 2.0, "subsample": 0.8, "colsample_bytree": 0.5, "reg_lambda": 2.0, "reg_alpha": 1e-3}
        return {"learning_rate": 0.1, "max_depth": 6, "min_child_weight": 1.0, "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 1.0, "reg_alpha": 1e-3}

    def starts(self, task: Task) -> list[dict[str, Any]]:
        deep = {"learning_rate": 0.05, "max_depth": 5, "min_child_weight": 1.0, "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 1.0, "reg_alpha": 1e-3}
        return [self.defaults(task), deep]

    def _params(self, params: dict[str, Any], task: Task, n_rows: int) -> dict[str, Any]:
        out = {k: v for k, v in params.items() if k != "learning_rate"}
        out.update(eta=params["learning_rate"], tree_method="hist", nthread=booster_threads(task, n_rows), seed=task.seed, verbosity=0)
        if task.problem == "multiclass":
            out.update(objective="multi:softprob", num_class=task.n_classes, eval_metric="mlogloss")
        elif task.problem == "binary":
            out.update(objective="binary:logistic", eval_metric="logloss")
        else:
            out.update(objective="reg:squarederror", eval_metric="rmse")
        return out

    def fit(self, params: dict[str, Any], X: np.ndarray, y: np.ndarray, task: Task, *, weights: np.ndarray | None = None, rounds: int | None = None) -> Fitted:
        import xgboost as xgb

        p = self._params(params, task, len(y))
        if rounds is not None:
            booster = xgb.train(p, xgb.DMatrix(X, y, weight=weights), num_boost_round=rounds)
            return XGBoostFitted(booster, task.problem)
        fit_idx, stop_idx = _inner_split(y, task)
        w = (None, None) if weights is None else (weights[fit_idx], weights[stop_idx])
        dtrain = xgb.DMatrix(X[fit_idx], y[fit_idx], weight=w[0])
        dvalid = xgb.DMatrix(X[stop_idx], y[stop_idx], weight=w[1])
        booster = xgb.train(p, dtrain, num_boost_round=5000, evals=[(dvalid, "valid")], early_stopping_rounds=_patience(params["learning_rate"]), verbose_eval=False)
        return XGBoostFitted(booster, task.problem, rounds=booster.best_iteration + 1)


class CatBoost(CandidateModel):
    """Oblivious (symmetric) trees with ordered boosting: CatBoost's guard against the target
    leakage of plain gradient boosting makes it strong on the small, noisy tables where
    LightGBM and XGBoost overfit, and its different trees blend well with theirs. FLAML and
    AutoGluon both carry it; FLAML picked it on modeldata mlc_churn and credit_data.

    Depth is searched up to CatBoost's default of 6 (FLAML does not search it at all): the
    exact explanation table of an oblivious tree costs 4^depth (`_oblivious_shap`), and 2,057
    trees of depth 7 took 3.2 s to table where depth 6 takes under one."""

    name = "catboost"
    flavour = "boost"
    early_stopping = True
    relative_cost = 3.0

    def space(self, trial: Any, task: Task) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "depth": trial.suggest_int("depth", 4, 6),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 30.0, log=True),
            "random_strength": trial.suggest_float("random_strength", 0.1, 10.0, log=True),
            "rsm": trial.suggest_float("rsm", 0.3, 1.0),
        }

    def defaults(self, task: Task) -> dict[str, Any]:
        """CatBoost's own defaults (depth 6, L2 3), at a rate that lets early stopping end a
        few thousand rows' fit in a few hundred rounds."""
        return {"learning_rate": 0.05 if task.n_rows < SMALL_ROWS else 0.1, "depth": 6, "l2_leaf_reg": 3.0, "random_strength": 1.0, "rsm": 1.0}

    def _build(self, params: dict[str, Any], task: Task, n_rows: int, rounds: int) -> Any:
        from catboost import CatBoostClassifier, CatBoostRegressor

        common = dict(params, iterations=rounds, thread_count=booster_threads(task, n_rows), random_seed=task.seed,
                      verbose=False, allow_writing_files=False)
        if task.problem == "regression":
            return CatBoostRegressor(loss_function="RMSE", **common)
        if task.problem == "multiclass":
            return CatBoostClassifier(loss_function="MultiClass", class_names=list(range(task.n_classes)), **common)
        return CatBoostClassifier(loss_function="Logloss", **common)

    def fit(self, params: dict[str, Any], X: np.ndarray, y: np.ndarray, task: Task, *, weights: np.ndarray | None = None, rounds: int | None = None) -> Fitted:
        if rounds is not None:
            model = self._build(params, task, len(y), rounds).fit(X, y, sample_weight=weights)
            return CatBoostFitted(model, task.problem)
        fit_idx, stop_idx = _inner_split(y, task)
        w = (None, None) if weights is None else (weights[fit_idx], weights[stop_idx])
        from catboost import Pool

        model = self._build(params, task, len(y), 5000)
        model.fit(Pool(X[fit_idx], y[fit_idx], weight=w[0]), eval_set=Pool(X[stop_idx], y[stop_idx], weight=w[1]),
                  early_stopping_rounds=_patience(params["learning_rate"]), use_best_model=True)
        return CatBoostFitted(model, task.problem, rounds=model.get_best_iteration() + 1)


class SVM(CandidateModel):
    name = "svm"
    default_max_rows = 5000
    relative_cost = 6.0

    def space(self, trial: Any, task: Task) -> dict[str, Any]:
        params = {"C": trial.suggest_float("C", 0.01, 100.0, log=True), "gamma": trial.suggest_float("gamma", 0.03, 30.0, log=True)}
        if task.problem == "regression":
            params["epsilon"] = trial.suggest_float("epsilon", 0.01, 1.0, log=True)
        return params

    def defaults(self, task: Task) -> dict[str, Any]:
        return {"C": 1.0, "gamma": 1.0, **({"epsilon": 0.1} if task.problem == "regression" else {})}

    def fit(self, params: dict[str, Any], X: np.ndarray, y: np.ndarray, task: Task, *, weights: np.ndarray | None = None, rounds: int | None = None) -> Fitted:
        # gamma is searched relative to 1 / n_features (sklearn's 'scale' on standardised data)
        p = dict(params, gamma=params["gamma"] / max(1, X.shape[1]))
        estimator = self.build(p, task)
        estimator.fit(X, y, **({"sample_weight": weights} if weights is not None else {}))
        return SklearnFitted(estimator, task.problem, task.n_classes)

    def build(self, params: dict[str, Any], task: Task) -> Any:
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVR

        if task.problem == "regression":
            svr = SVR(C=params["C"], gamma=params["gamma"], epsilon=params["epsilon"], cache_size=500)
            return TransformedTargetRegressor(regressor=svr, transformer=StandardScaler())
        return MarginClassifier(C=params["C"], gamma=params["gamma"], random_state=task.seed)


class MLP(CandidateModel):
    name = "mlp"
    default_max_rows = 200_000
    LAYERS: ClassVar[dict[str, tuple[int, ...]]] = {"64": (64,), "128": (128,), "128-64": (128, 64), "256-128": (256, 128)}
    relative_cost = 8.0

    def space(self, trial: Any, task: Task) -> dict[str, Any]:
        return {
            "layers": trial.suggest_categorical("layers", list(self.LAYERS)),
            "alpha": trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
            "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-2, log=True),
        }

    def defaults(self, task: Task) -> dict[str, Any]:
        return {"layers": "64", "alpha": 1e-4, "learning_rate_init": 2e-3}

    def fit(self, params: dict[str, Any], X: np.ndarray, y: np.ndarray, task: Task, *, weights: np.ndarray | None = None, rounds: int | None = None) -> Fitted:
        estimator = self.build(params, task)
        estimator.fit(X, y)  # MLP's sample_weight support varies by version: weights are not applied
        return SklearnFitted(estimator, task.problem, task.n_classes)

    def build(self, params: dict[str, Any], task: Task) -> Any:
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        from sklearn.preprocessing import StandardScaler

        kw = {"hidden_layer_sizes": self.LAYERS[params["layers"]], "alpha": params["alpha"], "learning_rate_init": params["learning_rate_init"], "early_stopping": True, "n_iter_no_change": 8, "max_iter": 200, "random_state": task.seed}
        if task.problem == "regression":
            return TransformedTargetRegressor(regressor=MLPRegressor(**kw), transformer=StandardScaler())
        return MLPClassifier(**kw)


REGISTRY: dict[str, CandidateModel] = {c.name: c for c in (Logistic(), SplineLogistic(), Linear(), RandomForest(), ExtraTrees(), LightGBM(), XGBoost(), CatBoost(), SVM(), MLP())}
# Cheap, usually strong families first, so a tiny budget still gets a good model.
COST_ORDER = ("logistic", "logistic_spline", "linear", "lightgbm", "xgboost", "catboost", "extra_trees", "random_forest", "mlp", "svm")


def candidates_for(names: list[str], problem: str, n_rows: int | None = None) -> list[CandidateModel]:
    """The registry entries named in the spec that fit the problem, cheapest first; the
    logistic model brings its spline companion on up to SPLINE_MAX_ROWS rows, unless it is
    the only family asked for (a spec that wants logistic alone wants the plain baseline)."""
    aliases = {"logistic": "linear", "linear": "logistic"}
    chosen: list[str] = []
    for name in names:
        model = REGISTRY.get(name)
        if model is not None and problem not in model.problems and aliases.get(name) in REGISTRY:
            model = REGISTRY[aliases[name]]
        if model is not None and problem in model.problems and model.name not in chosen:
            chosen.append(model.name)
    if "logistic" in chosen and len(chosen) > 1 and (n_rows is None or n_rows <= SPLINE_MAX_ROWS):
        chosen.append(SplineLogistic.name)
    return [REGISTRY[n] for n in COST_ORDER if n in chosen]
