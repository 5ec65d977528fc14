"""The model ``mlflow models serve`` runs: logged as code (MLflow's "models from code") by
:meth:`fmnist.tracking.Tracker.log_model`, never imported by fmnist. It reads the same safe files as
:class:`fmnist.serve.model.Classifier`: raw pixels (N×784 or N×28×28, 0..255) in, the 10 class probabilities out."""

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

    # MLflow reads model_input's type hint as an input schema, except for a few types such as np.ndarray; the
    # logged signature (output only, see Tracker.log_model) is the contract, and a DataFrame is accepted too.
    def predict(
        self, context: PythonModelContext, model_input: np.ndarray, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        return self.classifier.predict_proba(model_input)


mlflow.models.set_model(PixelClassifier())
