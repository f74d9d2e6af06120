"""Training: candidates with their search spaces, splits, the budgeted search, blend and calibration."""

from kpiml.training._blend import Blend, select_blend
from kpiml.training._calibration import ProbabilityCalibrator, choose_calibration
from kpiml.training._candidates import COST_ORDER, REGISTRY, CandidateModel, Task, candidates_for
from kpiml.training._estimators import (
    Fitted,
    LightGBMFitted,
    MarginClassifier,
    SklearnFitted,
    XGBoostFitted,
)
from kpiml.training._model import KpimlModel, Member, ModelPart
from kpiml.training._splits import SplitPlan, cv_folds, holdout_split, plan_splits
from kpiml.training._train import TrainResult, encode_target, train_model

__all__ = [
    "COST_ORDER",
    "REGISTRY",
    "Blend",
    "CandidateModel",
    "Fitted",
    "KpimlModel",
    "LightGBMFitted",
    "MarginClassifier",
    "Member",
    "ModelPart",
    "ProbabilityCalibrator",
    "SklearnFitted",
    "SplitPlan",
    "Task",
    "TrainResult",
    "XGBoostFitted",
    "candidates_for",
    "choose_calibration",
    "cv_folds",
    "encode_target",
    "holdout_split",
    "plan_splits",
    "select_blend",
    "train_model",
]
