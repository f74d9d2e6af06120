"""Tests of per-row reasons and global importance on real fitted models (seconds, not minutes)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kpiml.evaluation.explanations import explain, global_importance, reason_text, top_reasons
from kpiml.features import build_preprocessor
from kpiml.spec import ColumnPlan
from kpiml.training._calibration import ProbabilityCalibrator
from kpiml.training._candidates import REGISTRY, Task
from kpiml.training._model import KpimlModel, Member, ModelPart

COLUMNS = [
    ColumnPlan(name="tenure", role="numeric", use="feature", impute="median"),
    ColumnPlan(name="plan", role="categorical", use="feature", encode="onehot"),
    ColumnPlan(name="monthly_charges", role="numeric", use="feature", impute="median"),
    ColumnPlan(name="paperless", role="boolean", use="feature", encode="ordinal"),
    ColumnPlan(name="signup", role="datetime", use="feature", encode="date_parts"),
]
FEATURES = [c.name for c in COLUMNS]
SMALL = {"random_forest": {"n_estimators": 40}}  # fewer trees: the tests stay fast on 2 shared cores


def churn(n: int, seed: int = 0) -> pd.DataFrame:
    """Churn falls with tenure, rises on the basic plan and when the charges are unknown."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    charges = np.round(rng.uniform(20, 120, n), 2)
    unknown = rng.random(n) < 0.15
    charges[unknown] = np.nan
    z = -0.06 * tenure + (plan == "basic") * 1.5 + 1.5 * unknown + 0.01 * np.nan_to_num(charges, nan=60) + rng.normal(scale=0.5, size=n) - 0.3
    signup = (pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")).strftime("%Y-%m-%d")
    return pd.DataFrame({"tenure": tenure, "plan": plan, "monthly_charges": charges, "paperless": rng.choice(["Yes", "No"], n), "signup": signup, "churn": (z > 0).astype(int)})


def fit_part(name: str, frame: pd.DataFrame, y: np.ndarray, task: Task, columns: list[ColumnPlan] = COLUMNS) -> ModelPart:
    candidate = REGISTRY[name]
    pre = build_preprocessor(columns, candidate.flavour, task.problem)  # type: ignore[arg-type]
    X = np.asarray(pre.fit_transform(frame[[c.name for c in columns]], y), dtype="float64")
    params = {**candidate.defaults(task), **SMALL.get(name, {})}
    return ModelPart(pre, candidate.fit(params, X, y, task))


def binary_model(members: list[Member], frame: pd.DataFrame, calibration: str = "none") -> KpimlModel:
    y = frame["churn"].to_numpy()
    blended = sum(m.weight * m.predict(frame) for m in members) / sum(m.weight for m in members)
    calibrator = ProbabilityCalibrator(calibration).fit(np.asarray(blended), y)
    return KpimlModel("binary", ["stayed", "left"], members, calibrator, positive="left", feature_columns=FEATURES)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return churn(700)


@pytest.fixture(scope="module")
def parts(data: pd.DataFrame) -> dict[str, Any]:
    """Fitted parts of each family on the same rows; LightGBM also as two fold models."""
    y = data["churn"].to_numpy()
    task = Task("binary", 2, len(data))
    out: dict[str, Any] = {n: fit_part(n, data, y, task) for n in ("lightgbm", "xgboost", "catboost", "logistic", "logistic_spline", "random_forest", "mlp")}
    halves = [data.iloc[: len(data) // 2], data.iloc[len(data) // 2 :]]
    out["lightgbm_folds"] = [fit_part("lightgbm", h, h["churn"].to_numpy(), task) for h in halves]
    return out


def single(parts: dict[str, Any], name: str, data: pd.DataFrame, calibration: str = "none") -> KpimlModel:
    return binary_model([Member(name, 1.0, {}, [parts[name]])], data, calibration)


def test_lightgbm_reasons_sum_to_booster_raw_score(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that a LightGBM row's contributions plus the base value give the booster's raw score within 1e-6."""
    part = parts["lightgbm"]
    found = explain(single(parts, "lightgbm", data, "sigmoid"), data)
    raw = part.estimator.booster.predict(part.preprocessor.transform(data[FEATURES]), raw_score=True, num_iteration=part.estimator.rounds)
    assert found.space == "margin"
    np.testing.assert_allclose(found.raw_base + found.raw.sum(axis=1), raw, rtol=0, atol=1e-6)
    assert np.ptp(found.raw_base) == 0  # one base value (the training mean margin) for every row


def test_xgboost_reasons_sum_to_booster_margin(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that XGBoost contributions plus base give its margin (XGBoost computes in float32)."""
    import xgboost as xgb

    part = parts["xgboost"]
    found = explain(single(parts, "xgboost", data), data)
    margin = part.estimator.booster.predict(xgb.DMatrix(part.preprocessor.transform(data[FEATURES])), output_margin=True, iteration_range=(0, part.estimator.rounds))
    np.testing.assert_allclose(found.raw_base + found.raw.sum(axis=1), margin, rtol=0, atol=1e-5)


def test_catboost_reasons_sum_to_its_raw_formula_value(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that CatBoost contributions plus base give its raw (log-odds) prediction within 1e-6."""
    part = parts["catboost"]
    found = explain(single(parts, "catboost", data, "sigmoid"), data)
    raw = part.estimator.model.predict(np.asarray(part.preprocessor.transform(data[FEATURES]), dtype="float64"), prediction_type="RawFormulaVal")
    assert found.space == "margin"
    np.testing.assert_allclose(found.raw_base + found.raw.sum(axis=1), raw, rtol=0, atol=1e-6)


def test_blend_reasons_sum_to_blended_probability_and_score(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that a blend's contributions sum to the blended (uncalibrated) probability and its effects to the calibrated score."""
    members = [Member("lightgbm", 2.0, {}, parts["lightgbm_folds"]), Member("logistic", 1.0, {}, [parts["logistic"]])]
    model = binary_model(members, data, "sigmoid")
    found = explain(model, data)
    blended = (2.0 * members[0].predict(data)[:, 1] + members[1].predict(data)[:, 1]) / 3.0
    assert found.space == "probability"
    np.testing.assert_allclose(found.raw_base + found.raw.sum(axis=1), blended, rtol=0, atol=1e-9)
    np.testing.assert_allclose(found.base + found.effect.sum(axis=1), model.score(data), rtol=0, atol=1e-9)
    np.testing.assert_allclose(found.pred, model.predict_matrix(data), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["random_forest", "mlp", "logistic"])
def test_other_families_add_up_to_the_score(parts: dict[str, Any], data: pd.DataFrame, name: str) -> None:
    """Check that forest (Saabas), MLP (occlusion) and logistic effects plus base equal the score."""
    model = single(parts, name, data, "isotonic")
    found = explain(model, data.head(200))
    np.testing.assert_allclose(found.base + found.effect.sum(axis=1), model.score(data.head(200)), rtol=0, atol=1e-9)


def test_linear_contributions_are_centred_on_the_background(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that logistic contributions are coefficient x (x - mean): they average to 0 over the background rows."""
    found = explain(single(parts, "logistic", data), data, background=data)
    np.testing.assert_allclose(found.raw.mean(axis=0), 0.0, atol=1e-9)
    assert np.abs(found.raw).max() > 0.1


@pytest.mark.parametrize("name", ["lightgbm", "catboost", "logistic", "logistic_spline", "random_forest"])
def test_effects_follow_the_data(parts: dict[str, Any], data: pd.DataFrame, name: str) -> None:
    """Check that short tenure raises and long tenure lowers churn risk, and the basic plan raises it."""
    found = explain(single(parts, name, data), data)
    tenure = found.effect[:, FEATURES.index("tenure")]
    plan = found.effect[:, FEATURES.index("plan")]
    assert tenure[data["tenure"].to_numpy() < 10].mean() > 0 > tenure[data["tenure"].to_numpy() > 60].mean()
    assert plan[(data["plan"] == "basic").to_numpy()].mean() > 0 > plan[(data["plan"] == "pro").to_numpy()].mean()


def test_spline_outputs_belong_to_their_own_columns(data: pd.DataFrame) -> None:
    """Check that every numeric column owns its own spline basis (not the first numeric column), so reasons and importance name it."""
    from kpiml.evaluation.explanations import column_map

    y = data["churn"].to_numpy()
    owned = {}
    for flavour in ("linear", "spline"):
        pre = build_preprocessor(COLUMNS, flavour, "binary")  # type: ignore[arg-type]
        pre.fit(data[FEATURES], y)
        owned[flavour] = column_map(pre, FEATURES).sum(axis=0)
    extra = owned["spline"] - owned["linear"]
    for name in ("tenure", "monthly_charges"):
        assert extra[FEATURES.index(name)] >= 3, dict(zip(FEATURES, extra, strict=True))
    assert extra[FEATURES.index("plan")] == 0


def test_top_three_reasons_are_the_largest_effects_with_row_values(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that each row gets the three largest |effects|, in order, with that row's own values."""
    model = single(parts, "lightgbm", data, "sigmoid")
    rows = data.head(50)
    reasons = top_reasons(model, rows, 3)
    found = explain(model, rows)
    assert len(reasons) == len(rows)
    for i, row in enumerate(reasons):
        sizes = [abs(r["effect"]) for r in row]
        assert len(row) == 3 and sizes == sorted(sizes, reverse=True)
        assert sizes[-1] >= np.sort(np.abs(found.effect[i]))[-3] - 1e-12
        for r in row:
            original = rows.iloc[i][r["feature"]]
            shown = {"Yes": "yes", "No": "no"}.get(original, original) if isinstance(original, str) else original
            assert r["value"] == (None if pd.isna(original) else shown)
            assert r["text"].startswith(f"{r['feature']} ")


def test_reason_text_for_missing_categorical_and_numeric_values(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that the texts name the value (or 'is missing') and the direction the model takes it."""
    model = single(parts, "lightgbm", data)
    rows = pd.DataFrame({"tenure": [2, 70], "plan": ["basic", "pro"], "monthly_charges": [np.nan, 50.5], "paperless": ["Yes", "No"], "signup": ["2023-01-05", "2022-03-01"]})
    texts = [{r["feature"]: r["text"] for r in row} for row in top_reasons(model, rows, 5)]
    assert texts[0]["tenure"].startswith("tenure = 2 raised the probability of left by ")
    assert texts[1]["tenure"].startswith("tenure = 70 lowered the probability of left by ")
    assert texts[0]["plan"].startswith("plan = basic raised")
    assert texts[0]["monthly_charges"].startswith("monthly_charges is missing raised")
    assert texts[1]["monthly_charges"].startswith("monthly_charges = 50.5 ")


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("tenure", 2.0, 0.2149, "binary", "churn"), "tenure = 2 raised the probability of churn by 0.21"),
        (("plan", "basic", -0.004, "binary", "churn"), "plan = basic lowered the probability of churn by 0.004"),
        (("charges", None, 0.05, "binary", "churn"), "charges is missing raised the probability of churn by 0.05"),
        (("charges", float("nan"), 0.05, "binary", "churn"), "charges is missing raised the probability of churn by 0.05"),
        (("ratio", 0.123456, 12.5, "regression", None), "ratio = 0.1235 raised the prediction by 12.5"),
        (("since", pd.Timestamp("2024-02-03"), -1.0, "regression", None), "since = 2024-02-03 lowered the prediction by 1"),
    ],
)
def test_reason_text(args: tuple[Any, ...], text: str) -> None:
    """Check the plain-words form of one reason."""
    assert reason_text(*args) == text


def test_regression_effects_are_in_target_units() -> None:
    """Check that regression effects plus base equal the predicted value for a booster, a ridge and a blend."""
    frame = churn(400, seed=3)
    columns = [c for c in COLUMNS if c.name != "monthly_charges"]
    y = frame["tenure"].to_numpy() * 2.0 + (frame["plan"] == "basic").to_numpy() * 30.0
    task = Task("regression", 0, len(frame))
    members = [Member(n, 1.0, {}, [fit_part(n, frame, y, task, columns)]) for n in ("lightgbm", "linear")]
    model = KpimlModel("regression", [], members, None, feature_columns=[c.name for c in columns])
    found = explain(model, frame)
    np.testing.assert_allclose(found.base + found.effect.sum(axis=1), model.score(frame), rtol=0, atol=1e-8)
    assert top_reasons(model, frame.head(1), 1)[0][0]["text"].endswith(tuple("0123456789"))


def test_multiclass_explains_the_predicted_class() -> None:
    """Check that a multiclass row is explained for its most probable class and adds up to its score."""
    frame = churn(400, seed=4)
    columns = [c for c in COLUMNS if c.name != "plan"]
    y = pd.Categorical(frame["plan"], categories=["basic", "plus", "pro"]).codes.astype(int)
    task = Task("multiclass", 3, len(frame))
    members = [Member(n, 1.0, {}, [fit_part(n, frame, y, task, columns)]) for n in ("lightgbm", "random_forest")]
    calibrator = ProbabilityCalibrator("sigmoid").fit(np.mean([m.predict(frame) for m in members], axis=0), y)
    model = KpimlModel("multiclass", ["basic", "plus", "pro"], members, calibrator, feature_columns=[c.name for c in columns])
    found = explain(model, frame)
    pred = model.predict_matrix(frame)
    np.testing.assert_allclose(found.base + found.effect.sum(axis=1), pred.max(axis=1), rtol=0, atol=1e-9)
    assert found.target_class == [model.classes[k] for k in pred.argmax(axis=1)]


def test_global_importance_ranks_the_drivers(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that TreeSHAP and permutation importance both rank tenure and plan above the paperless flag."""
    shap = global_importance(single(parts, "lightgbm", data), data)
    perm = global_importance(single(parts, "random_forest", data), data, target=np.where(data["churn"] == 1, "left", "stayed"))
    for table in (shap, perm):
        assert list(table.columns) == ["feature", "importance", "method"]
        assert sorted(table["feature"]) == sorted(FEATURES)
        assert table["importance"].is_monotonic_decreasing
        top = set(table["feature"].head(2))
        assert top == {"tenure", "plan"}
    assert "mean |contribution|" in shap["method"].iloc[0] and "permutation" in perm["method"].iloc[0]



def test_group_importance_is_the_summed_contribution_of_its_columns(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that per-row contributions give global_importance's figures, and a group's importance is the mean |sum| of its columns' contributions."""
    from kpiml.evaluation.explanations import contributions, group_importance

    model = single(parts, "logistic", data)
    effects = contributions(model, data, max_rows=500)
    assert len(effects) == 500 and list(effects.columns) == list(model.feature_columns)
    reported = global_importance(model, data, max_rows=500).set_index("feature")["importance"]
    np.testing.assert_allclose(effects.abs().mean()[reported.index], reported, rtol=0, atol=1e-12)
    first, second = list(effects.columns[:2])
    grouped = group_importance(effects, {"pair": (first, second), "one": (first,)})
    assert grouped["pair"] == pytest.approx((effects[first] + effects[second]).abs().mean())
    assert grouped["one"] == pytest.approx(effects[first].abs().mean())

def test_predict_reason_columns_match_the_service_texts(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that `kpiml predict`'s reason_1..3 are the texts the service answers, and the scores do not change."""
    from kpiml.predicting import score_frame

    model = single(parts, "lightgbm", data, "sigmoid")
    rows = data.head(40).drop(columns="churn")
    plain = score_frame(model, rows, [])
    with_reasons = score_frame(model, rows, [], reasons=3)
    assert list(with_reasons.columns) == [*plain.columns, "reason_1", "reason_2", "reason_3"]
    pd.testing.assert_frame_equal(with_reasons[plain.columns], plain)
    served = [[r["text"] for r in row] for row in top_reasons(model, rows, 3)]
    assert with_reasons[["reason_1", "reason_2", "reason_3"]].to_numpy().tolist() == served


def test_service_adapter_returns_the_explanations(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that the service's `reasons_for` answers real reasons: schema fields, top-k, the module's texts."""
    from types import SimpleNamespace

    from kpiml.serving.decisions import reasons_for
    from kpiml.serving.schema import Reason

    model = single(parts, "xgboost", data, "sigmoid")
    rows = data.head(5).drop(columns="churn")
    served = reasons_for(SimpleNamespace(model=model), rows, 2)
    assert [[Reason(**r).text for r in row] for row in served] == [[r["text"] for r in row] for row in top_reasons(model, rows, 2)]
    assert all(len(row) == 2 and row[0]["text"] for row in served)
    assert reasons_for(SimpleNamespace(model=model), rows, 0) == [[]] * 5


def test_batch_and_service_rows_get_the_same_texts(parts: dict[str, Any], data: pd.DataFrame) -> None:
    """Check that raw file values and the service's typed request columns give the same reasons (flags, dates, numbers)."""
    from kpiml.serving.scorer import _column

    model = single(parts, "lightgbm", data, "sigmoid")
    raw = data.head(30).drop(columns="churn").assign(paperless=lambda f: f["paperless"].map({"Yes": "Y", "No": "no"}))
    kinds = {"tenure": "numeric", "plan": "categorical", "monthly_charges": "numeric", "paperless": "boolean", "signup": "datetime"}
    records = json.loads(raw.to_json(orient="records"))
    typed = pd.DataFrame({c: _column([r[c] for r in records], kind) for c, kind in kinds.items()})
    batch = [[r["text"] for r in row] for row in top_reasons(model, raw, 5)]
    assert batch == [[r["text"] for r in row] for row in top_reasons(model, typed, 5)]
    assert any("paperless = yes" in t or "paperless = no" in t for row in batch for t in row)
