"""The model ``mlflow models serve`` runs: MLflow copies this file beside the logged weights and runs it (models from
code; never imported by fmnist). Raw pixels in, 10 class probabilities out, through
:class:`~fmnist.serve.model.Classifier` on the same safe files (docs/usage.md, "Predictions")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel, PythonModelContext


class PixelClassifier(PythonModel):
    """Loads the logged weights and architecture into the framework named by the logged ``model_config``."""

    def load_context(self, context: PythonModelContext) -> None:
        from fmnist.serve.model import Classifier

        self.classifier = Classifier.from_files(
            context.model_config["framework"],
            Path(context.artifacts["weights"]),
            Path(context.artifacts["model_config"]),
        )

    # np.ndarray is one of the few hints MLflow does not turn into an input schema: the logged signature (output
    # only, see Tracker.log_model) is the contract, and a DataFrame is accepted too.
    def predict(
        self, context: PythonModelContext, model_input: np.ndarray, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        return self.classifier.predict_proba(model_input)


mlflow.models.set_model(PixelClassifier())
