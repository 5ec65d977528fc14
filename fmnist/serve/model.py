"""A trained model, loaded from safe files only into this installed project's own model classes.

Only the training run's best checkpoint (weights only) and ``model_config.json`` are read: nothing from the
artifact store is unpickled, imported or executed (docs/usage.md, 'Predictions').
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fmnist.config import ModelConfig
from fmnist.data.pixels import to_pixel_matrix
from fmnist.errors import FmnistError
from fmnist.models import numpy_net
from fmnist.models.numpy_net import NetworkArrays, load_arrays
from fmnist.tracking.layout import BEST_CHECKPOINT_DIR, MODEL_CONFIG_ARTIFACT, NETWORK_ARRAYS_ARTIFACT
from fmnist.train.trainers import trainer

if TYPE_CHECKING:
    from fmnist.tracking import Tracker


def read_model_config(path: Path) -> ModelConfig:
    """The architecture a training run logged (``model_config.json``)."""
    try:
        fields = json.loads(path.read_text())
        return ModelConfig(**{**fields, "hidden": tuple(fields["hidden"])})
    except (ValueError, TypeError, KeyError) as exc:
        raise FmnistError(f"{path.name}: not a model architecture ({exc})") from None


@dataclass(frozen=True)
class Classifier:
    """A loaded model of ``framework``: raw pixels in, class probabilities out (``model`` is the framework's, or
    its `NetworkArrays` for the NumPy pass)."""

    framework: str
    model: Any
    model_cfg: ModelConfig

    @classmethod
    def from_files(cls, framework: str, weights: Path, model_config: Path) -> Classifier:
        """Build ``framework``'s network from the architecture file and load the weights file into it."""
        backend = trainer(framework)
        if not weights.name.endswith(backend.SUFFIX):
            raise FmnistError(f"{weights.name}: not a {framework} checkpoint (expected a *{backend.SUFFIX} file)")
        model_cfg = read_model_config(model_config)
        return cls(framework, backend.load_checkpoint(weights, model_cfg), model_cfg)

    @classmethod
    def from_run(cls, tracker: Tracker, run_id: str, framework: str | None = None, numpy: bool = False) -> Classifier:
        """Download a trained run's best checkpoint and architecture and load them (framework: the run's tag).
        ``numpy``: score the run's ``network.npz`` in NumPy, importing no framework, when the run has one."""
        framework = framework or tracker.run(run_id)["framework"]
        if framework is None:
            raise FmnistError(f"run {run_id} is not a training run (no framework tag)")
        arrays = numpy and tracker.has_artifact(run_id, NETWORK_ARRAYS_ARTIFACT)
        with tempfile.TemporaryDirectory() as tmp:
            model_config = tracker.download_artifact(run_id, MODEL_CONFIG_ARTIFACT, Path(tmp))
            if arrays:
                model_cfg = read_model_config(model_config)
                network = load_arrays(tracker.download_artifact(run_id, NETWORK_ARRAYS_ARTIFACT, Path(tmp)), model_cfg)
                return cls(framework, network, model_cfg)
            checkpoints = tracker.download_artifact(run_id, BEST_CHECKPOINT_DIR, Path(tmp))
            files = sorted(p.name for p in checkpoints.iterdir() if p.is_file())
            if len(files) != 1:
                raise FmnistError(f"run {run_id}: expected one file under {BEST_CHECKPOINT_DIR}, found {files}")
            return cls.from_files(framework, checkpoints / files[0], model_config)

    @classmethod
    def from_uri(cls, tracker: Tracker, model_uri: str, numpy: bool = False) -> Classifier:
        """The model at ``model_uri`` (registered, logged or a run's), loaded from the run that trained it."""
        return cls.from_run(tracker, tracker.source_run(model_uri), numpy=numpy)

    def predict_proba(self, pixels: Any) -> np.ndarray:
        """Class probabilities (N, 10) float32 for raw pixels (N×784 or N×28×28, 0..255, numpy or DataFrame)."""
        x = to_pixel_matrix(pixels)
        if isinstance(self.model, NetworkArrays):
            probabilities = numpy_net.predict_proba(self.model, x, self.model_cfg)
        else:
            probabilities = trainer(self.framework).predict_proba(self.model, x, self.model_cfg)
        return probabilities.astype(np.float32, copy=False)
