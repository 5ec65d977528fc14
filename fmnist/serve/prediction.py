"""Batch prediction with a logged or registered model: the inputs ``fmnist predict`` accepts in, a CSV out.

Images must be 28x28 grey, as resizing a photo silently would give confident nonsense. Inputs are parsed by
Pillow, numpy and pyarrow only: nothing user-supplied is ever unpickled.
"""

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
from fmnist.data import idx, kaggle_csv
from fmnist.data.parquet import read_split
from fmnist.data.pixels import read_image
from fmnist.errors import DataError, FmnistError, ServerUnreachableError

if TYPE_CHECKING:  # MLflow is slow to import: `fmnist predict` reports bad input before paying for it
    from fmnist.serve.model import Classifier
    from fmnist.tracking import Tracker

DEFAULT_MODEL = "models:/fmnist@champion"
CHUNK = 8192
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


@dataclass(frozen=True)
class Batch:
    """Pixels (N, 784) uint8 and, per row, where it came from."""

    pixels: np.ndarray
    sources: list[str]


def read_inputs(paths: list[Path]) -> Batch:
    """Read every input path (files or folders of images) into one batch, in the order given."""
    if not paths:
        raise DataError("no input given: pass image files, a folder of images, an IDX, CSV or Parquet file")
    batches = [_read_one(Path(path)) for path in paths]
    return Batch(np.concatenate([b.pixels for b in batches]), [s for b in batches for s in b.sources])


def _read_one(path: Path) -> Batch:
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DataError(f"{path}: folder holds no .png/.jpg/.jpeg images")
        return Batch(np.stack([read_image(p) for p in images]), [str(p) for p in images])
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder")
    name = path.name.lower()
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return Batch(read_image(path)[None, :], [str(path)])
    if path.suffix == ".parquet":
        pixels = read_split(path)[0]
    elif path.suffix == ".csv":
        pixels = kaggle_csv.read_csv(path)[0]
    elif "idx3" in name or name.endswith(("-ubyte", "-ubyte.gz")):
        pixels = idx.read_images(path)
    else:
        raise DataError(
            f"{path}: unsupported input; use PNG/JPEG images (28x28 grey), an IDX image file, a CSV"
            " (label,pixel1..pixel784) or a Parquet split"
        )
    rows = np.ascontiguousarray(pixels.reshape(len(pixels), -1), dtype=np.uint8)
    return Batch(rows, [f"{path}#{i}" for i in range(len(rows))])


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
    from fmnist.tracking.client import MODEL_URI_FORMS

    tracker = tracker or Tracker()
    try:
        return Classifier.from_uri(tracker, model_uri)
    except ServerUnreachableError:
        raise
    except Exception as exc:
        raise FmnistError(
            f"cannot load model {model_uri!r} from {tracker.uri}: {str(exc).splitlines()[0][:300]}."
            f" Check the URI ({MODEL_URI_FORMS}) and MLFLOW_TRACKING_URI"
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
    """``out`` if it names a plain file anywhere the user can write: not a symbolic link (the write would be meant
    for its target), not a folder, and in a folder that exists (none is created on the user's behalf)."""
    out = Path(out)
    if out.is_symlink():
        raise FmnistError(f"--out {out}: is a symbolic link (to {os.readlink(out)}); name a regular file instead")
    if out.is_dir():
        raise FmnistError(f"--out {out}: is a folder; name the CSV file to write, e.g. {out / 'predictions.csv'}")
    if not out.absolute().parent.is_dir():
        raise FmnistError(f"--out {out}: folder {out.absolute().parent} does not exist; create it first")
    return out


def write_csv(predictions: Predictions, out: Path) -> None:
    """Write the CSV to ``out`` atomically: the named file is untouched or complete."""
    atomic_write_text(check_out_path(out), predictions.to_csv())
