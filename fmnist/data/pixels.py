"""Coerce raw pixels from the shapes callers use into the ``(N, 784)`` uint8 matrix the models take."""

from __future__ import annotations

from typing import Any

import numpy as np

from fmnist.classes import NUM_PIXELS
from fmnist.errors import DataError


def to_pixel_matrix(values: Any) -> np.ndarray:
    """Return ``(N, 784)`` uint8 from N×784 or N×28×28 values in 0..255 (numpy, lists or a DataFrame).

    A DataFrame may hold 784 pixel columns, or a ``pixels`` column of 784-byte values (the Parquet layout).
    """
    if hasattr(values, "columns"):  # a pandas DataFrame, without importing pandas here
        if "pixels" in values.columns:
            values = np.stack([np.frombuffer(v, dtype=np.uint8) for v in values["pixels"]])
        else:
            values = values.to_numpy()
    array = np.asarray(values)
    if array.ndim == 3 and array.shape[1:] == (28, 28):
        array = array.reshape(array.shape[0], NUM_PIXELS)
    if array.ndim != 2 or array.shape[1] != NUM_PIXELS:
        raise DataError(f"expected N×784 or N×28×28 pixels, got an array of shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"pixels must be numbers in 0..255, got dtype {array.dtype}")
    if array.size and (not np.isfinite(array).all() or array.min() < 0 or array.max() > 255):
        raise DataError("pixels must be finite numbers in 0..255 (raw grey values, not normalised)")
    return np.rint(array).astype(np.uint8)
