"""Build the preprocessing pipeline from the spec's column plans.

One builder serves every model family through a *flavour*: gradient boosting takes missing
values and unscaled numbers natively ("boost"), forests need imputation ("tree"), and linear,
SVM and MLP models also need scaling, one-hot codes and tamed outliers ("linear"); "spline"
is "linear" plus a linear-spline basis of every numeric column, so that a linear model can
bend (a churn risk that falls steeply over the first months of tenure, then flattens). The
result is a plain sklearn Pipeline, so it is refitted on every training fold and never
sees validation rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from kpiml.errors import KpimlError
from kpiml.features._transformers import (
    KINDS,
    MISSING,
    DateParts,
    FeaturePruner,
    FrameCoercer,
    HingeBasis,
    OutlierClipper,
    TextEmbedder,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from kpiml.spec import ColumnPlan

Flavour = Literal["boost", "tree", "linear", "spline"]
FLAVOURS: tuple[str, ...] = ("boost", "tree", "linear", "spline")
LINEAR_FLAVOURS = ("linear", "spline")  # scaled, one-hot coded, outliers tamed


def column_kind(col: ColumnPlan) -> str:
    """The representation a feature column is coerced to: its encoding wins over its role,
    except that an ordinal-coded boolean stays boolean (0/1 whatever its spelling: True,
    'yes', 'Y', 1), so a file that spells flags differently still scores the same."""
    if col.role == "boolean" and col.encode in ("ordinal", "none"):
        return "boolean"
    if col.encode in ("onehot", "ordinal", "target"):
        return "categorical"
    if col.encode == "date_parts":
        return "datetime"
    if col.encode == "tfidf":
        return "text"
    if col.role in KINDS:
        return col.role
    return "categorical"


def feature_kinds(columns: list[ColumnPlan]) -> dict[str, str]:
    """Feature column name -> kind, in spec order; free text is used only where encoded as tfidf."""
    kinds = {c.name: column_kind(c) for c in columns if c.use == "feature"}
    return {n: k for n, k in kinds.items() if k != "text" or _plan(columns, n).encode == "tfidf"}


def build_preprocessor(columns: list[ColumnPlan], flavour: Flavour, problem: str, *, prune: bool = False, seed: int = 0) -> Pipeline:
    """Pipeline: coerce dtypes -> per-column ColumnTransformer -> optional redundancy pruning."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}")
    kinds = feature_kinds(columns)
    if not kinds:
        raise KpimlError("The spec has no feature columns", expected="at least one column with use: feature", fix="set `use: feature` on the columns the model may use in kpiml.yaml")
    steps = []
    for i, (signature, names) in enumerate(_groups(columns, kinds).items()):
        step = _column_step(_plan(columns, names[0]), signature[0], flavour, problem, seed)
        steps.append((f"{signature[0]}{i}" if signature[0] != "text" else names[0], step, names))
    transformer = ColumnTransformer(steps, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=True)
    pipeline_steps: list[tuple[str, Any]] = [("coerce", FrameCoercer(kinds)), ("columns", transformer)]
    if prune:
        pipeline_steps.append(("prune", FeaturePruner(task=problem, random_state=seed)))
    return Pipeline(pipeline_steps)


def _groups(columns: list[ColumnPlan], kinds: dict[str, str]) -> dict[tuple[str, ...], list[str]]:
    """Columns treated alike share one transformer: far less per-column overhead per fold."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, kind in kinds.items():
        col = _plan(columns, name)
        key = (kind, name) if kind == "text" else (kind, col.impute, col.encode, col.scale, col.outliers, *map(str, col.hinges))
        groups.setdefault(key, []).append(name)
    return groups


def _plan(columns: list[ColumnPlan], name: str) -> ColumnPlan:
    return next(c for c in columns if c.name == name)


def _column_step(col: ColumnPlan, kind: str, flavour: str, problem: str, seed: int) -> Any:
    if kind in ("numeric", "boolean"):
        return _numeric_step(col, kind, flavour)
    if kind == "categorical":
        return _categorical_step(col, flavour, problem, seed)
    if kind == "datetime":
        return _chain(DateParts(), *_impute_scale(col, flavour, numeric_default="median"))
    return TextEmbedder()


def _numeric_step(col: ColumnPlan, kind: str, flavour: str) -> Any:
    steps: list[Any] = []
    if flavour in LINEAR_FLAVOURS and kind == "numeric" and col.outliers != "none":
        steps.append(OutlierClipper(method=col.outliers))
    default = "most_frequent" if kind == "boolean" else "median"
    steps.extend(_impute_scale(col, flavour, numeric_default=default, scale=kind == "numeric"))
    if flavour in LINEAR_FLAVOURS and kind == "numeric" and col.hinges:
        return _with_fixed_hinges(steps[:-1], steps[-1], tuple(col.hinges))
    if flavour == "spline" and kind == "numeric":
        return _with_splines(_chain(*steps))
    return _chain(*steps) if steps else "passthrough"


def _with_fixed_hinges(head: list[Any], scaler: Any, knots: tuple[float, ...]) -> Any:
    """Clipped and imputed values (`head`), then beside the scaled columns a standardised
    hinge basis at the plan's knots, taken in the column's own units (days) before scaling
    moves them. The spline flavour uses these knots too, in place of its quantile ones."""
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.preprocessing import StandardScaler

    basis = make_pipeline(HingeBasis(knots=knots), StandardScaler())
    return make_pipeline(*head, FeatureUnion([("value", scaler), ("hinge", basis)]))


def _with_splines(step: Any) -> Any:
    """The scaled columns and, beside them, a standardised linear-spline (hinge) basis with
    knots at quantiles of the training fold."""
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.preprocessing import StandardScaler

    basis = make_pipeline(HingeBasis(n_knots=5), StandardScaler())
    return make_pipeline(step, FeatureUnion([("value", "passthrough"), ("spline", basis)]))


def _impute_scale(col: ColumnPlan, flavour: str, *, numeric_default: str, scale: bool = True) -> list[Any]:
    """Imputation (with a missing-indicator) where the model needs it, scaling for linear ones."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import RobustScaler, StandardScaler

    steps: list[Any] = []
    strategy = col.impute if col.impute in ("median", "mean", "most_frequent", "constant") else numeric_default
    if flavour != "boost" or col.impute in ("median", "mean", "most_frequent", "constant"):
        steps.append(SimpleImputer(strategy=strategy, fill_value=0.0, add_indicator=True, keep_empty_features=True))
    if flavour in LINEAR_FLAVOURS and scale:
        steps.append(RobustScaler() if col.scale == "robust" else StandardScaler())
    return steps


def _categorical_step(col: ColumnPlan, flavour: str, problem: str, seed: int) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    fill = "most_frequent" if col.impute == "most_frequent" else "constant"
    imputer = SimpleImputer(strategy=fill, fill_value=MISSING, missing_values=float("nan"))
    encode = col.encode
    if encode == "target":
        return _chain(imputer, _target_encoder(problem, seed), *([_scaler()] if flavour in LINEAR_FLAVOURS else []))
    if encode == "onehot" or flavour in LINEAR_FLAVOURS:
        onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, max_categories=40, sparse_output=False)
        return _chain(imputer, onehot)
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, min_frequency=5)
    return _chain(imputer, ordinal)


def _target_encoder(problem: str, seed: int) -> Any:
    """sklearn's TargetEncoder cross-fits inside `fit_transform`, so rows never see their own target."""
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.preprocessing import TargetEncoder

    cv = KFold(5, shuffle=True, random_state=seed) if problem == "regression" else StratifiedKFold(5, shuffle=True, random_state=seed)
    target_type = {"regression": "continuous", "binary": "binary", "multiclass": "multiclass"}[problem]
    return TargetEncoder(target_type=target_type, cv=cv)


def _scaler() -> Any:
    from sklearn.preprocessing import StandardScaler

    return StandardScaler()


def _chain(*steps: Any) -> Any:
    from sklearn.pipeline import make_pipeline

    return make_pipeline(*steps) if len(steps) > 1 else steps[0]
