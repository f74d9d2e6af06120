"""Global importance of the features and the dependence of the score on the top ones.

Importance comes from `kpiml.evaluation.explanations.global_importance` (TreeSHAP for
boosters, exact linear contributions, permutation importance for other models), or from
scikit-learn's permutation importance where that module is absent. Dependence is partial dependence, computed here by hand because
sklearn's `partial_dependence` needs a fitted sklearn estimator on a numeric matrix, whereas
kpiml's model takes the raw frame (categories, dates) and blends several pipelines.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kpiml.reporting import charts

# Rows the importance is measured on. TreeSHAP costs 0.1-3 ms a row (trees x depth^2; a
# 331-round LightGBM on hotel_rates: 2.8 ms), so the sample bounds the report's time; on
# wa_churn and hotel_rates, 300 seeded rows ranked the top 15 columns as the whole hold-out
# did (Spearman >= 0.975 over 3 seeds, the same top 3 in the same order every time).
SAMPLE_ROWS = 300
SHAP_SECONDS = 1.5  # TreeSHAP stops after the chunk of rows that passes this (large boosters: 11 ms a row)
PD_ROWS = 200  # rows averaged per grid value of a partial-dependence curve
GRID = 12
TOP = 15


def _score(model: Any, frame: pd.DataFrame) -> np.ndarray:
    pred = model.predict_matrix(frame)
    return pred[:, 1] if model.problem == "binary" else (pred.max(axis=1) if pred.ndim == 2 else pred)


def importance(model: Any, frame: pd.DataFrame, y: np.ndarray, seed: int = 0) -> tuple[pd.Series, str]:
    """Importance per feature, largest first, and how it was measured (words for the page)."""
    try:
        from kpiml.evaluation.explanations import global_importance
    except ImportError:  # the explanations module is optional: fall back to permutation importance
        sample = frame.sample(SAMPLE_ROWS, random_state=seed) if len(frame) > SAMPLE_ROWS else frame
        return _permutation(model, sample, y[frame.index.get_indexer(sample.index)], seed), _permutation_words(model.problem)
    labels = y if model.problem == "regression" else np.asarray(model.classes, dtype=object)[np.asarray(y, dtype=int)]
    table = global_importance(model, frame, labels, seed=seed, max_rows=SAMPLE_ROWS, max_seconds=SHAP_SECONDS)
    series = pd.Series(table["importance"].to_numpy(float), index=table["feature"].astype(str))
    return series.sort_values(ascending=False), str(table["method"].iloc[0]) if len(table) else "importance"


def _permutation_words(problem: str) -> str:
    metric = {"binary": "ROC AUC", "multiclass": "accuracy", "regression": "R²"}[problem]
    return f"permutation importance: drop in {metric} when the column's values are shuffled (3 repeats)"


def _permutation(model: Any, frame: pd.DataFrame, y: np.ndarray, seed: int) -> pd.Series:
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    def scoring(estimator: Any, X: pd.DataFrame, target: np.ndarray) -> float:
        pred = estimator.predict_matrix(X)
        if estimator.problem == "binary":
            return float(roc_auc_score(target, pred[:, 1])) if len(np.unique(target)) == 2 else 0.0
        if estimator.problem == "multiclass":
            return float(accuracy_score(target, pred.argmax(axis=1)))
        return float(r2_score(target, pred))

    result = permutation_importance(model, frame, y, scoring=scoring, n_repeats=3, random_state=seed, n_jobs=1)
    return pd.Series(result.importances_mean, index=list(frame.columns)).sort_values(ascending=False)


def importance_svg(series: pd.Series, how: str) -> str:
    top = series.head(TOP)
    return charts.bar_chart([str(i) for i in top.index], top.to_numpy(float), xlabel=how.split(":")[0], title="Global importance")


def _grid(column: pd.Series) -> list[Any]:
    """Values to set the column to: quantiles for numbers, the most frequent levels otherwise."""
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > GRID:
        values = np.nanquantile(column.to_numpy(float), np.linspace(0.02, 0.98, GRID))
        return list(np.unique(values.round() if pd.api.types.is_integer_dtype(column) else values))
    return list(column.value_counts().index[:GRID])


def dependence(model: Any, frame: pd.DataFrame, features: list[str], seed: int = 0) -> list[tuple[list[Any], np.ndarray]]:
    """Mean score of `PD_ROWS` sampled rows with each feature set to each of its grid values (partial dependence).

    All features' grids are scored in one call: the model's cost is mostly per call (several
    pipelines), not per row.
    """
    sample = frame.sample(min(len(frame), PD_ROWS), random_state=seed).reset_index(drop=True)
    grids = [_grid(frame[f].dropna()) for f in features]
    stacked = pd.concat([sample.assign(**{f: pd.Series([v] * len(sample), dtype=frame[f].dtype)}) for f, grid in zip(features, grids, strict=True)
                         for v in grid], ignore_index=True)
    scores = _score(model, stacked).reshape(-1, len(sample)).mean(axis=1)
    bounds = np.cumsum([0, *(len(g) for g in grids)])
    return [(grid, scores[bounds[i]:bounds[i + 1]]) for i, grid in enumerate(grids)]


def dependence_svgs(frame: pd.DataFrame, features: list[str], curves: list[tuple[list[Any], np.ndarray]], ylabel: str) -> list[str]:
    """One small chart per feature (`curves` from `dependence`): a line over numeric values, bars over categories."""
    out = []
    for feature, (grid, scores) in zip(features, curves, strict=True):
        if pd.api.types.is_numeric_dtype(frame[feature]) and frame[feature].nunique() > GRID:
            out.append(charts.line_chart([("", np.asarray(grid, dtype=float), scores)], xlabel=feature, ylabel=ylabel, title=f"Score by {feature}", size=(3.6, 2.6)))
        else:
            out.append(charts.bar_chart([str(g) for g in grid], scores, xlabel=ylabel, title=f"Score by {feature}", width=3.6))
    return out
