"""Read a new labelled batch (PNGs with labels.csv, a Kaggle CSV or an IDX pair) into validated arrays.

The layouts: docs/retraining.md, 'Adding a batch'. Each failure is one line naming the file, row or byte.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from fmnist.classes import NUM_CLASSES, NUM_PIXELS
from fmnist.data import idx, kaggle_csv
from fmnist.data.pixels import read_image
from fmnist.errors import DataError

LABELS_CSV = "labels.csv"
BatchFormat = Literal["png", "csv", "idx"]


@dataclass(frozen=True)
class LabelledBatch:
    """Pixels ``(N, 784)`` uint8, labels ``(N,)`` uint8 in 0..9, and where each row came from."""

    pixels: np.ndarray
    labels: np.ndarray
    sources: list[str]
    format: BatchFormat

    def __post_init__(self) -> None:
        if self.pixels.shape != (len(self.labels), NUM_PIXELS) or len(self.sources) != len(self.labels):
            raise ValueError(f"pixels {self.pixels.shape}, labels {self.labels.shape}, {len(self.sources)} sources")


def check_batch_path(source: Path) -> None:
    """A DataError at once for a ``source`` that cannot be a batch: missing, or a file other than a ``.csv``."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder; pass a PNG folder with {LABELS_CSV}, a CSV or an IDX pair")
    if not source.is_dir() and source.suffix.lower() != ".csv":
        raise DataError(
            f"{source}: not a batch; pass a folder of PNGs with {LABELS_CSV}, a Kaggle-style .csv, or a folder with"
            " one *idx3-ubyte and one *idx1-ubyte file"
        )


def read_labelled_batch(source: Path) -> LabelledBatch:
    """Read and validate the batch at ``source``; nothing is recorded here."""
    source = Path(source)
    check_batch_path(source)
    if source.is_file():
        images, labels = kaggle_csv.read_csv(source)
        return LabelledBatch(images.reshape(len(images), NUM_PIXELS), labels, _rows(source, len(labels)), "csv")
    if (source / LABELS_CSV).is_file():
        return _read_png_folder(source)
    image_files = sorted(p for p in source.iterdir() if "idx3-ubyte" in p.name)
    label_files = sorted(p for p in source.iterdir() if "idx1-ubyte" in p.name)
    if len(image_files) == len(label_files) == 1:
        images, labels = idx.read_pair(image_files[0], label_files[0])
        if not len(labels):
            raise DataError(f"{image_files[0]}: holds no images")
        return LabelledBatch(images.reshape(len(images), NUM_PIXELS), labels, _rows(image_files[0], len(labels)), "idx")
    if image_files or label_files:
        found = ", ".join(p.name for p in (*image_files, *label_files))
        raise DataError(f"{source}: an IDX batch needs one *idx3-ubyte and one *idx1-ubyte file (found {found})")
    if not any(source.iterdir()):
        raise DataError(f"{source}: empty folder; a batch needs PNGs with {LABELS_CSV}, a CSV or an IDX pair")
    raise DataError(
        f"{source}: no {LABELS_CSV} and no IDX files; a PNG batch needs {LABELS_CSV} with a 'file,label' row per image"
    )


def _rows(path: Path, n: int) -> list[str]:
    return [f"{path.name}#{i}" for i in range(n)]


def _read_png_folder(folder: Path) -> LabelledBatch:
    listing = folder / LABELS_CSV
    try:
        with open(listing, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{listing}: not a readable CSV ({exc}); expected a 'file,label' header") from None
    if not rows or [c.strip() for c in rows[0]] != ["file", "label"]:
        raise DataError(f"{listing}: line 1 must be the header 'file,label'")
    labelled: dict[str, int] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            raise DataError(f"{listing}: line {line_no} has {len(row)} cells, expected 'file,label'")
        name, label = row[0].strip(), row[1].strip()
        if not label.isdigit() or int(label) >= NUM_CLASSES:
            raise DataError(f"{listing}: line {line_no}: unknown label {label!r} for {name}; labels are 0..9")
        if Path(name).name != name or not name:
            raise DataError(f"{listing}: line {line_no}: {name!r} must be a file name in {folder}, not a path")
        if name in labelled:
            raise DataError(f"{listing}: line {line_no}: {name} is listed twice")
        labelled[name] = int(label)
    if not labelled:
        raise DataError(f"{listing}: lists no images; add a 'file,label' row per PNG")
    unlisted = sorted(
        p.name for p in folder.iterdir() if p.is_file() and p.name != LABELS_CSV and p.name not in labelled
    )
    if unlisted:
        raise DataError(f"{folder / unlisted[0]}: not listed in {LABELS_CSV} ({len(unlisted)} unlisted); add a label")
    pixels = np.empty((len(labelled), NUM_PIXELS), dtype=np.uint8)
    for i, name in enumerate(labelled):
        if not (folder / name).is_file():
            raise DataError(f"{folder / name}: named in {LABELS_CSV} but missing")
        pixels[i] = read_image(folder / name)
    return LabelledBatch(pixels, np.fromiter(labelled.values(), dtype=np.uint8), list(labelled), "png")
