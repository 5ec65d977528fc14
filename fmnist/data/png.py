"""Read one 28x28 8-bit grey PNG/JPEG, refusing anything else before its pixels are decoded."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

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
            return np.asarray(image, dtype=np.uint8).reshape(784)
        except OSError as exc:  # e.g. pixel data cut short
            raise DataError(f"{path}: not a readable PNG/JPEG image ({exc})") from None
