"""Pixels from what callers hold, an image file or an array, as the uint8 rows of 784 grey values models take."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.classes import NUM_PIXELS
from fmnist.errors import DataError


def read_image(path: Path) -> np.ndarray:
    """A 28x28 grey PNG/JPEG as 784 uint8 values. Size and mode come from the header and are checked before any
    pixel is decoded: an image that declares a huge size (a decompression bomb) is refused unread."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its limit, raises) when a header declares a huge image: refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{path}: image too large to decode ({str(exc).split(',')[0]}); expected 28x28") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a readable PNG/JPEG image") from None
    with image:
        if image.size != (28, 28):
            width, height = image.size
            raise DataError(f"{path}: image is {width}x{height}, expected 28x28; resize it to 28x28 first")
        if image.mode != "L":
            raise DataError(
                f"{path}: image mode {image.mode}, expected 8-bit grey (L); convert it first, e.g. with Pillow"
                " `Image.open(p).convert('L')`"
            )
        try:
            return np.asarray(image, dtype=np.uint8).reshape(NUM_PIXELS)
        except OSError as exc:  # e.g. pixel data cut short
            raise DataError(f"{path}: not a readable PNG/JPEG image ({exc})") from None


def to_pixel_matrix(values: Any) -> np.ndarray:
    """``(N, 784)`` uint8 from N×784 or N×28×28 values in 0..255: numpy, lists, or a DataFrame of 784 columns or
    of a ``pixels`` column of 784-byte values (the Parquet layout)."""
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
