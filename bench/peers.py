"""The peers of `bench_train.py`, each fitted in its own child process on the benchmark's CSVs.

    PYTHON bench/peers.py TOOL TRAIN.csv TEST.csv --target COL [--positive LABEL] --budget S --out SCORES.csv

TOOL is logistic, lightgbm (kpiml's .venv has what they need), flaml or autogluon (they need
`.venv-bench`, whose pandas < 3 AutoGluon requires). The child writes one `score` column in the
order of TEST.csv (probability of the positive class, or the predicted value for regression) and
SCORES.json with the fit seconds and what the tool chose; the parent scores it with the same code
as kpiml's scores. A child process per tool also gives each its own wall time and peak memory.
Peers see the same columns as kpiml minus `rownames` (an identifier kpiml also leaves out).
This file imports nothing from kpiml, so that it runs in either environment.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DROP = ["rownames"]


def _xy(train: pd.DataFrame, test: pd.DataFrame, target: str, positive: str | None) -> tuple[pd.DataFrame, Any, pd.DataFrame]:
    x_tr = train.drop(columns=[target, *DROP], errors="ignore")
    y = (train[target].astype(str) == positive).astype(int) if positive else train[target]
    return x_tr, y, test.drop(columns=[target, *DROP], errors="ignore")[x_tr.columns]


def _categorical(x: pd.DataFrame) -> list[str]:
    return [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]


def logistic(x_tr: pd.DataFrame, y: Any, x_te: pd.DataFrame, binary: bool, budget: float) -> tuple[np.ndarray, str]:
    """One-hot + median-imputed, scaled numbers; LogisticRegression (binary) or LinearRegression defaults."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cat = _categorical(x_tr)
    num = [c for c in x_tr.columns if c not in cat]
    prep = ColumnTransformer([("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cat),
                              ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num)])
    if binary:
        model = make_pipeline(prep, LogisticRegression(max_iter=5000)).fit(x_tr, y)
        return model.predict_proba(x_te)[:, 1], "LogisticRegression"
    return make_pipeline(prep, LinearRegression()).fit(x_tr, y).predict(x_te), "LinearRegression"


def lightgbm(x_tr: pd.DataFrame, y: Any, x_te: pd.DataFrame, binary: bool, budget: float) -> tuple[np.ndarray, str]:
    """LightGBM with its default parameters, text columns as pandas categories."""
    import lightgbm as lgb

    x_tr, x_te = x_tr.copy(), x_te.copy()
    for c in _categorical(x_tr):
        x_tr[c] = x_tr[c].astype("category")
        x_te[c] = pd.Categorical(x_te[c], categories=x_tr[c].cat.categories)
    if binary:
        return np.asarray(lgb.LGBMClassifier(verbose=-1, n_jobs=2).fit(x_tr, y).predict_proba(x_te))[:, 1], "LGBMClassifier defaults"
    return np.asarray(lgb.LGBMRegressor(verbose=-1, n_jobs=2).fit(x_tr, y).predict(x_te)), "LGBMRegressor defaults"


def flaml(x_tr: pd.DataFrame, y: Any, x_te: pd.DataFrame, binary: bool, budget: float) -> tuple[np.ndarray, str]:
    """FLAML AutoML with its defaults, ROC-AUC or RMSE, time_budget = the benchmark budget."""
    from flaml import AutoML

    automl = AutoML()
    automl.fit(x_tr, y, task="classification" if binary else "regression", metric="roc_auc" if binary else "rmse",
               time_budget=budget, seed=0, n_jobs=2, verbose=0)
    pred = np.asarray(automl.predict_proba(x_te))[:, 1] if binary else np.asarray(automl.predict(x_te))
    return pred, f"{automl.best_estimator}"


def autogluon(x_tr: pd.DataFrame, y: Any, x_te: pd.DataFrame, binary: bool, budget: float) -> tuple[np.ndarray, str]:
    """AutoGluon TabularPredictor, presets='medium_quality', time_limit = the benchmark budget."""
    import tempfile

    from autogluon.tabular import TabularPredictor

    label = "__target__"
    with tempfile.TemporaryDirectory() as tmp:
        predictor = TabularPredictor(label=label, problem_type="binary" if binary else "regression",
                                     eval_metric="roc_auc" if binary else "root_mean_squared_error", path=tmp, verbosity=0)
        predictor.fit(x_tr.assign(**{label: np.asarray(y)}), presets="medium_quality", time_limit=budget)
        pred = predictor.predict_proba(x_te)[1].to_numpy() if binary else predictor.predict(x_te).to_numpy()
        return pred, f"{predictor.model_best} of {len(predictor.model_names())} models"


TOOLS: dict[str, Callable[[pd.DataFrame, Any, pd.DataFrame, bool, float], tuple[np.ndarray, str]]] = {
    "logistic": logistic, "lightgbm": lightgbm, "flaml": flaml, "autogluon": autogluon}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("train", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--target", required=True)
    parser.add_argument("--positive", default=None)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    x_tr, y, x_te = _xy(pd.read_csv(args.train), pd.read_csv(args.test), args.target, args.positive)
    start = time.monotonic()
    pred, chosen = TOOLS[args.tool](x_tr, y, x_te, args.positive is not None, args.budget)
    fit_s = time.monotonic() - start
    pd.DataFrame({"score": pred}).to_csv(args.out, index=False)
    args.out.with_suffix(".json").write_text(json.dumps({"fit_s": round(fit_s, 1), "chosen": chosen}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
