"""The model ``mlflow models serve`` runs, logged as code by :meth:`~fmnist.tracking.Tracker.log_model` and never
imported by fmnist: :class:`~fmnist.serve.model.Classifier` on the same safe files."""

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
