"""Make labelled batches from training images with controlled, seeded shifts (for demos and drift tests).

Images come from a split's ``train`` rows only, never validation or either test set (docs/retraining.md).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fmnist.atomic import atomic_write_bytes, staged_files
from fmnist.classes import NUM_CLASSES
from fmnist.data import idx, kaggle_csv
from fmnist.data.labelled_batch import LABELS_CSV, BatchFormat
from fmnist.errors import DataError


@dataclass(frozen=True)
class Shift:
    """How a batch differs from the training images; the defaults change nothing."""

    brightness: float = 0.0  # added to every pixel, in grey levels (-255..255)
    contrast: float = 1.0  # factor around each image's mean grey (0.5 flattens, 1.5 sharpens)
    rotate: float = 0.0  # largest rotation in degrees; each image turns by a uniform angle in [-rotate, rotate]
    translate: float = 0.0  # largest move in pixels along each axis, uniform in [-translate, translate]
    # Gaussian noise SD, grey levels: even a little makes every image new, so a batch is no duplicate of its source.
    noise: float = 0.0
    class_weights: Mapping[int, float] = field(default_factory=dict)  # class id → relative weight; unset: 1

    def __post_init__(self) -> None:
        if not -255 <= self.brightness <= 255:
            raise DataError(f"brightness {self.brightness}: give grey levels in -255..255")
        if self.contrast < 0 or self.rotate < 0 or self.translate < 0 or self.noise < 0:
            raise DataError("contrast, rotate, translate and noise must be >= 0")
        bad = [k for k, w in self.class_weights.items() if not 0 <= k < NUM_CLASSES or w < 0]
        if bad or (self.class_weights and sum(self.weights()) == 0):
            raise DataError("class weights: give class ids 0..9 with weights >= 0, not all 0 (e.g. 6:3,0:0.5)")

    def weights(self) -> list[float]:
        """The weight of every class, 0..9."""
        return [float(self.class_weights.get(k, 1.0)) for k in range(NUM_CLASSES)]


def draw_batch(
    pixels: np.ndarray, labels: np.ndarray, n: int, shift: Shift, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images drawn without replacement from ``pixels``/``labels`` by the shift's class mix, then shifted."""
    rng = np.random.default_rng(seed)
    if not 0 < n <= len(labels):
        raise DataError(f"--images {n}: choose 1..{len(labels)} (the training images available)")
    per_image = np.asarray(shift.weights())[labels]
    available = int(np.count_nonzero(per_image))
    if n > available:
        raise DataError(f"--images {n}: only {available} training images belong to classes of non-zero weight")
    chosen = rng.choice(len(labels), size=n, replace=False, p=per_image / per_image.sum())
    return apply_shift(pixels[chosen], shift, rng), labels[chosen].copy()


def apply_shift(pixels: np.ndarray, shift: Shift, rng: np.random.Generator) -> np.ndarray:
    """``pixels`` (N, 784) uint8 with the shift's geometric and photometric changes applied."""
    from scipy import ndimage

    images = pixels.reshape(-1, 28, 28).astype(np.float32)
    if shift.rotate or shift.translate:
        angles = rng.uniform(-shift.rotate, shift.rotate, len(images))
        moves = rng.uniform(-shift.translate, shift.translate, (len(images), 2))
        for i in range(len(images)):
            turned = ndimage.rotate(images[i], angles[i], reshape=False, order=1) if shift.rotate else images[i]
            images[i] = ndimage.shift(turned, moves[i], order=1) if shift.translate else turned
    if shift.contrast != 1.0:
        means = images.mean(axis=(1, 2), keepdims=True)
        images = means + shift.contrast * (images - means)
    images = images + shift.brightness
    if shift.noise:
        images = images + rng.normal(0.0, shift.noise, images.shape)
    return np.clip(np.rint(images), 0, 255).astype(np.uint8).reshape(-1, 784)


def write_batch(out: Path, pixels: np.ndarray, labels: np.ndarray, layout: BatchFormat) -> Path:
    """Write a batch in a layout ``fmnist ingest --add`` reads (``csv``: the file ``out``; ``png``, ``idx``: the
    folder ``out``, which must be new or empty); return what to pass it."""
    out = Path(out)
    if layout == "csv":
        atomic_write_bytes(out, kaggle_csv.encode_csv(pixels.reshape(-1, 28, 28), labels))
        return out
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: folder is not empty; choose a new folder for the batch")
    with staged_files(out) as staging:
        if layout == "idx":
            (staging / "batch-images-idx3-ubyte.gz").write_bytes(
                gzip.compress(idx.encode_images(pixels.reshape(-1, 28, 28)), mtime=0)
            )
            (staging / "batch-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx.encode_labels(labels), mtime=0))
        else:
            from PIL import Image

            for i, image in enumerate(pixels):
                Image.fromarray(image.reshape(28, 28), mode="L").save(staging / f"{i:05d}.png")
            rows = "".join(f"{i:05d}.png,{label}\n" for i, label in enumerate(labels))
            (staging / LABELS_CSV).write_text("file,label\n" + rows)
    return out
