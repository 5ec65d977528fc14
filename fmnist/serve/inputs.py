"""Read the inputs ``fmnist predict`` accepts into pixels plus a label per row (file name or row number).

- PNG/JPEG images, or a folder of them: each must be 28x28 grey (mode ``L``); anything else is rejected with
  a message saying how to convert it, because silently resizing a photo would give confident nonsense.
- IDX image files (``*-idx3-ubyte`` or ``.gz``), Kaggle-style CSVs and Parquet splits: every row is one image.
Files are parsed by Pillow, numpy and pyarrow only: nothing user-supplied is ever unpickled.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.data import idx, kaggle_csv
from fmnist.data.parquet import read_split
from fmnist.errors import DataError

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
    pixels: list[np.ndarray] = []
    sources: list[str] = []
    for path in paths:
        batch = _read_one(Path(path))
        pixels.append(batch.pixels)
        sources.extend(batch.sources)
    return Batch(np.concatenate(pixels), sources)


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
        pixels, _ = read_split(path)
        return _rows(path, pixels)
    if path.suffix == ".csv":
        images, _ = kaggle_csv.read_csv(path)
        return _rows(path, images.reshape(len(images), -1))
    if "idx3" in name or name.endswith("-ubyte") or name.endswith("-ubyte.gz"):
        images = idx.read_images(path)
        return _rows(path, images.reshape(len(images), -1))
    raise DataError(
        f"{path}: unsupported input; use PNG/JPEG images (28x28 grey), an IDX image file, a CSV"
        " (label,pixel1..pixel784) or a Parquet split"
    )


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


def _rows(path: Path, pixels: np.ndarray) -> Batch:
    return Batch(np.ascontiguousarray(pixels, dtype=np.uint8), [f"{path}#{i}" for i in range(len(pixels))])
