"""Tests of the spec-driven preprocessing builder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kpiml.errors import KpimlError
from kpiml.features import build_preprocessor, column_kind, feature_kinds
from kpiml.spec import ColumnPlan


def _columns() -> list[ColumnPlan]:
    return [
        ColumnPlan(name="id", role="identifier", use="identifier"),
        ColumnPlan(name="age", role="numeric", use="feature", impute="median", scale="standard", outliers="clip_iqr"),
        ColumnPlan(name="plan", role="categorical", use="feature", impute="missing_category", encode="onehot"),
        ColumnPlan(name="city", role="categorical", use="feature", encode="target"),
        ColumnPlan(name="vip", role="boolean", use="feature", encode="ordinal"),
        ColumnPlan(name="since", role="datetime", use="feature", encode="date_parts"),
        ColumnPlan(name="note", role="text", use="feature", encode="none"),
        ColumnPlan(name="y", role="categorical", use="target"),
    ]


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(n),
        "age": np.where(rng.random(n) < 0.1, np.nan, rng.normal(40, 10, n)),
        "plan": pd.Series(rng.choice(["a", "b", None], n), dtype="string"),
        "city": rng.choice([f"c{i}" for i in range(30)], n),
        "vip": rng.choice(["yes", "no"], n),
        "since": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
        "note": ["free text"] * n,
        "y": rng.integers(0, 2, n),
    })


def test_kinds_follow_encoding_and_skip_plain_text() -> None:
    """Check that kinds come from encodings, flags stay boolean and un-encoded text is left out."""
    kinds = feature_kinds(_columns())
    assert kinds == {"age": "numeric", "plan": "categorical", "city": "categorical", "vip": "boolean", "since": "datetime"}
    assert column_kind(ColumnPlan(name="zip", role="numeric", use="feature", encode="onehot")) == "categorical"


@pytest.mark.parametrize("flavour", ["boost", "tree", "linear", "spline"])
def test_every_flavour_builds_a_numeric_matrix(flavour: str) -> None:
    """Check that each flavour yields finite numbers (NaN only where boosting takes it natively)."""
    frame = _frame()
    pre = build_preprocessor(_columns(), flavour, "binary")  # type: ignore[arg-type]
    X = pre.fit_transform(frame, frame["y"].to_numpy())
    assert X.shape[0] == len(frame) and X.dtype == np.float64
    if flavour != "boost":
        assert np.isfinite(X).all()
    names = pre.get_feature_names_out()
    assert len(names) == X.shape[1] and not any(n.split("__")[-1] == "id" for n in names)


def test_linear_flavour_scales_and_boost_does_not() -> None:
    """Check that numeric inputs are standardised for linear models only."""
    frame = _frame(500)
    y = frame["y"].to_numpy()
    lin = build_preprocessor(_columns(), "linear", "binary").fit(frame, y)
    names = list(lin.get_feature_names_out())
    age = lin.transform(frame)[:, [n.endswith("__age") for n in names].index(True)]
    assert abs(age.mean()) < 0.1 and abs(age.std() - 1) < 0.1
    boost = build_preprocessor(_columns(), "boost", "binary").fit(frame, y)
    raw = boost.transform(frame)[:, [n.endswith("__age") for n in boost.get_feature_names_out()].index(True)]
    assert np.nanmean(raw) > 30


def test_spline_flavour_lets_a_linear_model_fit_a_bend() -> None:
    """Check that the spline flavour lets logistic regression rank a U-shaped risk the linear flavour cannot."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    frame = _frame(2000)
    age = frame["age"].to_numpy(dtype=float)
    y = (np.abs(age - np.nanmedian(age)) > 10).astype(int)
    fit, score = slice(0, 1500), slice(1500, None)
    aucs = {}
    for flavour in ("linear", "spline"):
        pre = build_preprocessor(_columns(), flavour, "binary").fit(frame.iloc[fit], y[fit])  # type: ignore[arg-type]
        model = LogisticRegression(max_iter=2000).fit(pre.transform(frame.iloc[fit]), y[fit])
        aucs[flavour] = roc_auc_score(y[score], model.predict_proba(pre.transform(frame.iloc[score]))[:, 1])
    assert aucs["spline"] > 0.9 and aucs["spline"] > aucs["linear"] + 0.2


def test_fixed_hinges_let_a_linear_model_follow_risk_that_fades_with_tenure() -> None:
    """Check that a column planned with hinges at 30/90/180/365 days gives linear models bends there, in days, and trees nothing extra.

    One feature's ranking is the same under any monotone fit, so the fit is judged by the
    predicted risk of the newest customers, which a straight line in days underestimates."""
    from sklearn.linear_model import LogisticRegression

    from kpiml.evaluation.explanations import column_map

    rng = np.random.default_rng(3)
    n = 20_000
    tenure = np.where(rng.random(n) < 0.8, rng.uniform(365, 2000, n), rng.uniform(0, 365, n))
    tenure[rng.random(n) < 0.05] = np.nan
    risk = 1 / (1 + np.exp(-(-3 + 3 * np.exp(-np.nan_to_num(tenure, nan=1000) / 60))))
    y = (rng.random(n) < risk).astype(int)
    newest = tenure < 30
    frame = pd.DataFrame({"tenure_days": tenure})
    plain = ColumnPlan(name="tenure_days", role="numeric", use="feature", impute="median", scale="standard")
    bent = plain.model_copy(update={"hinges": [30.0, 90.0, 180.0, 365.0]})
    predicted = {}
    for name, plan in (("plain", plain), ("bent", bent)):
        pre = build_preprocessor([plan], "linear", "binary").fit(frame, y)
        model = LogisticRegression(max_iter=2000).fit(pre.transform(frame), y)
        predicted[name] = model.predict_proba(pre.transform(frame[newest]))[:, 1].mean()
        if name == "bent":
            encoded = pre.transform(frame.iloc[:5])
            assert encoded.shape[1] == 2 + 4  # value, missing indicator, four bends (none on the indicator)
            assert column_map(pre, ["tenure_days"]).sum(axis=0).tolist() == [6.0]
    truth = y[newest].mean()
    assert abs(predicted["bent"] - truth) < 0.03 < truth - predicted["plain"], (predicted, truth)
    trees = [build_preprocessor([p], "boost", "binary").fit(frame, y).transform(frame) for p in (plain, bent)]
    assert np.array_equal(trees[0], trees[1], equal_nan=True)


def test_unseen_categories_and_missing_values_are_scored() -> None:
    """Check that new categories, missing values and text flags at transform time do not fail."""
    frame = _frame()
    pre = build_preprocessor(_columns(), "linear", "binary").fit(frame, frame["y"].to_numpy())
    new = _frame(5, seed=1).assign(plan=["zzz", None, "a", "b", "new"], city=["unknown"] * 5, age=[np.nan] * 5, vip=["Y", "N", None, "true", "0"])
    out = pre.transform(new)
    assert np.isfinite(out).all()


def test_no_feature_column_is_a_user_error() -> None:
    """Check that a spec without features raises KpimlError with a fix."""
    with pytest.raises(KpimlError, match="no feature columns"):
        build_preprocessor([ColumnPlan(name="y", role="numeric", use="target")], "boost", "regression")
