"""The ten Fashion-MNIST classes, in label order, and the check that labels name one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fmnist.errors import DataError

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)
NUM_PIXELS = 28 * 28


def check_labels(labels: np.ndarray, where: Callable[[int], str]) -> np.ndarray:
    """uint8 ``labels`` if each is a class id, else a DataError naming the first bad one (``where(i)``, e.g.
    ``"train.csv: line 3: label 10"``) and how many are bad."""
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise DataError(f"{where(int(bad[0]))} is outside 0..{NUM_CLASSES - 1} ({bad.size} bad labels in all)")
    return labels
