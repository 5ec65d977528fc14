"""Read the inputs ``fmnist predict`` accepts into pixels plus a label per row (file name or row number).

- PNG/JPEG images, or a folder of them: each must be 28x28 grey (mode ``L``); anything else is rejected with
  a message saying how to convert it, because silently resizing a photo would give confident nonsense.
- IDX image files (``*-idx3-ubyte`` or ``.gz``), Kaggle-style CSVs and Parquet splits: every row is one image.
Files are parsed by Pillow, numpy and pyarrow only: nothing user-supplied is ever unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.data import idx, kaggle_csv
from fmnist.data.parquet import read_split
from fmnist.data.png import read_image
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
