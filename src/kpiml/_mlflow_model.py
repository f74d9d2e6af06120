"""MLflow "model from code" for a kpiml bundle: MLflow stores this file, never a pickle.

`mlflow.pyfunc.load_model("models:/NAME/VERSION")` runs this file, which loads the bundle
through `kpiml.artifact.load_bundle` (hashes checked) and scores a DataFrame with the same
columns as `kpiml predict` writes.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class KpimlPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        from pathlib import Path

        from kpiml.artifact import load_bundle

        self.bundle = load_bundle(Path(context.artifacts["bundle"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from kpiml.predicting import check_frame, score_frame

        check_frame(model_input, self.bundle.contract)
        return score_frame(self.bundle.model, model_input, self.bundle.contract.get("identifiers", []))


mlflow.models.set_model(KpimlPyfunc())
