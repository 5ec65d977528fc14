"""Batch prediction with a logged or registered model: pixels in, a CSV of classes and probabilities out."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.atomic import atomic_write_text
from fmnist.classes import CLASS_NAMES
from fmnist.errors import FmnistError
from fmnist.predict_inputs import Batch
from fmnist.tracking import Tracker, load_pyfunc

DEFAULT_MODEL = "models:/fmnist@champion"
CHUNK = 8192


@dataclass(frozen=True)
class Predictions:
    """Class probabilities (N, 10) for a batch, with where each row came from."""

    sources: list[str]
    probabilities: np.ndarray

    @property
    def class_ids(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    def to_csv(self) -> str:
        """``source,class_id,class_name,p_0..p_9`` with a header."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["source", "class_id", "class_name", *(f"p_{i}" for i in range(len(CLASS_NAMES)))])
        for source, cls, row in zip(self.sources, self.class_ids, self.probabilities, strict=True):
            writer.writerow([source, int(cls), CLASS_NAMES[cls], *(f"{p:.6f}" for p in row)])
        return buf.getvalue()


def load_model(model_uri: str, tracker: Tracker | None = None) -> object:
    """Load a model as a pyfunc, turning MLflow's errors into one clear line."""
    tracker = tracker or Tracker()
    try:
        return load_pyfunc(model_uri, tracker.uri)
    except Exception as exc:
        raise FmnistError(
            f"cannot load model {model_uri!r} from {tracker.uri}: {str(exc).splitlines()[0][:300]}."
            " Check the URI (models:/<name>@<alias>, models:/<name>/<version> or runs:/<run_id>/model)"
            " and MLFLOW_TRACKING_URI"
        ) from None


def predict(model: object, batch: Batch, on_chunk: Callable[[int], None] | None = None) -> Predictions:
    """Predict in chunks (bounded memory, progress per chunk)."""
    parts = []
    for start in range(0, len(batch.pixels), CHUNK):
        chunk = batch.pixels[start : start + CHUNK]
        parts.append(np.asarray(model.predict(chunk), dtype=np.float32))  # type: ignore[attr-defined]
        if on_chunk is not None:
            on_chunk(len(chunk))
    return Predictions(batch.sources, np.concatenate(parts) if parts else np.zeros((0, 10), np.float32))


def write_csv(predictions: Predictions, out: Path) -> None:
    """Write the predictions CSV atomically."""
    atomic_write_text(Path(out), predictions.to_csv())
