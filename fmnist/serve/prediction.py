"""Batch prediction with a logged or registered model: pixels in, a CSV of classes and probabilities out."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fmnist.atomic import atomic_write_text
from fmnist.classes import CLASS_NAMES, NUM_CLASSES
from fmnist.errors import FmnistError, ServerUnreachableError
from fmnist.serve.inputs import Batch

if TYPE_CHECKING:  # MLflow takes ~1.5 s to import: `fmnist predict` reports bad input before paying for it
    from fmnist.serve.model import Classifier
    from fmnist.tracking import Tracker

DEFAULT_MODEL = "models:/fmnist@champion"
CHUNK = 8192


@dataclass(frozen=True)
class Predictions:
    """Class probabilities (N, 10) for a batch, with where each row came from."""

    sources: list[str]
    probabilities: np.ndarray

    def columns(self, with_confidence: bool = False) -> dict[str, Any]:
        """One row per image: ``source, class_id, class_name, p_0..p_9``; ``with_confidence`` adds ``confidence``
        (the largest probability) before the probabilities."""
        probabilities = self.probabilities.astype(np.float32, copy=False)
        class_ids = probabilities.argmax(axis=1).astype(np.uint8)
        confidence = {"confidence": probabilities.max(axis=1)} if with_confidence else {}
        return {
            "source": self.sources,
            "class_id": class_ids,
            "class_name": [CLASS_NAMES[i] for i in class_ids],
            **confidence,
            **{f"p_{i}": probabilities[:, i] for i in range(NUM_CLASSES)},
        }

    def to_csv(self, with_confidence: bool = False) -> str:
        """:meth:`columns` as CSV text with a header, probabilities to 6 decimals."""
        columns = self.columns(with_confidence)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for source, class_id, class_name, *numbers in zip(*columns.values(), strict=True):
            writer.writerow([source, int(class_id), class_name, *(f"{p:.6f}" for p in numbers)])
        return buf.getvalue()


def load_model(model_uri: str, tracker: Tracker | None = None) -> Classifier:
    """Load a model from the run that trained it (safe files only), turning any failure into one clear line."""
    from fmnist.serve.model import Classifier
    from fmnist.tracking import Tracker

    tracker = tracker or Tracker()
    try:
        return Classifier.from_uri(tracker, model_uri)
    except ServerUnreachableError:
        raise
    except Exception as exc:
        raise FmnistError(
            f"cannot load model {model_uri!r} from {tracker.uri}: {str(exc).splitlines()[0][:300]}."
            " Check the URI (models:/<name>@<alias>, models:/<name>/<version>, models:/m-<id> or runs:/<run_id>/model)"
            " and MLFLOW_TRACKING_URI"
        ) from None


def predict(model: Classifier, batch: Batch, on_chunk: Callable[[int], None] | None = None) -> Predictions:
    """Predict in chunks (bounded memory, progress per chunk)."""
    parts = [np.zeros((0, NUM_CLASSES), np.float32)]
    for start in range(0, len(batch.pixels), CHUNK):
        chunk = batch.pixels[start : start + CHUNK]
        parts.append(model.predict_proba(chunk))
        if on_chunk is not None:
            on_chunk(len(chunk))
    return Predictions(batch.sources, np.concatenate(parts))


def check_out_path(out: Path) -> Path:
    """Refuse an ``--out`` that would not end up as the plain file the user named; return it.

    The rule: ``--out`` may name a file anywhere the user can write (they named it explicitly), but
    - not a symbolic link (the write would be meant for wherever it points, which the command line does not say),
    - not a directory, and
    - only in a folder that already exists (no folders are created on the user's behalf).
    The CSV is then written to a temporary file in that folder and renamed onto the name, so the named file is
    either untouched or complete.
    """
    out = Path(out)
    if out.is_symlink():
        raise FmnistError(f"--out {out}: is a symbolic link (to {os.readlink(out)}); name a regular file instead")
    if out.is_dir():
        raise FmnistError(f"--out {out}: is a folder; name the CSV file to write, e.g. {out / 'predictions.csv'}")
    if not out.absolute().parent.is_dir():
        raise FmnistError(f"--out {out}: folder {out.absolute().parent} does not exist; create it first")
    return out


def write_csv(predictions: Predictions, out: Path) -> None:
    """Write the predictions CSV atomically (to a path `check_out_path` accepts)."""
    atomic_write_text(check_out_path(out), predictions.to_csv())
