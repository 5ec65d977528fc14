"""The model ``mlflow models serve`` serves, logged as code (MLflow's "models from code").

MLflow copies this file beside the logged weights and runs it to build the model, then calls ``load_context``,
which reads the same safe files as fmnist's own loaders (:class:`fmnist.serve.model.Classifier`). Raw pixels
(N×784 or N×28×28, 0..255) in, the 10 class probabilities out; the training preprocessing is applied inside.
fmnist itself never imports this file: :meth:`fmnist.tracking.Tracker.log_model` logs it by path.
"""

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
