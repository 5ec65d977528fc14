"""Batch prediction with a logged or registered model: pixels in, a CSV of classes and probabilities out."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fmnist.atomic import atomic_write_text
from fmnist.classes import CLASS_NAMES
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

    @property
    def class_ids(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidences(self) -> np.ndarray:
        """The probability of each row's predicted class (its largest)."""
        return self.probabilities.max(axis=1) if len(self.probabilities) else np.zeros(0, np.float32)

    def to_csv(self, with_confidence: bool = False) -> str:
        """``source,class_id,class_name,p_0..p_9`` with a header; ``with_confidence`` adds ``confidence`` before
        the probabilities."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        extra = ["confidence"] if with_confidence else []
        writer.writerow(["source", "class_id", "class_name", *extra, *(f"p_{i}" for i in range(len(CLASS_NAMES)))])
        for source, cls, conf, row in zip(
            self.sources, self.class_ids, self.confidences, self.probabilities, strict=True
        ):
            extra = [f"{conf:.6f}"] if with_confidence else []
            writer.writerow([source, int(cls), CLASS_NAMES[cls], *extra, *(f"{p:.6f}" for p in row)])
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
    parts = []
    for start in range(0, len(batch.pixels), CHUNK):
        chunk = batch.pixels[start : start + CHUNK]
        parts.append(model.predict_proba(chunk))
        if on_chunk is not None:
            on_chunk(len(chunk))
    return Predictions(batch.sources, np.concatenate(parts) if parts else np.zeros((0, 10), np.float32))


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
