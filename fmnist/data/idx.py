"""Read, validate and write the IDX files of the official Fashion-MNIST release (optionally gzip-compressed).

IDX layout: a 4-byte magic number (two zero bytes, a type code, 0x08 for uint8, and the number of dimensions),
one big-endian uint32 per dimension, then the raw values. Images are magic 2051 (3 dims), labels 2049 (1 dim).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from fmnist.classes import NUM_PIXELS, check_labels
from fmnist.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
MAX_DATA_BYTES = 100_000 * NUM_PIXELS  # the largest release file holds 60,000 images


def read_images(path: Path) -> np.ndarray:
    """An IDX image file as a ``(N, 28, 28)`` uint8 array."""
    (count, rows, cols), body = _read(Path(path), IMAGES_MAGIC)
    return np.frombuffer(body, dtype=np.uint8).reshape(count, rows, cols)


def read_labels(path: Path) -> np.ndarray:
    """An IDX label file as an ``(N,)`` uint8 array, every label a class id."""
    _, body = _read(Path(path), LABELS_MAGIC)
    labels = np.frombuffer(body, dtype=np.uint8)
    return check_labels(labels, lambda i: f"{path}: byte {8 + i}: label {labels[i]} at item {i}")


def read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An image file and the label file that must hold as many items."""
    images, labels = read_images(images_path), read_labels(labels_path)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path.name} holds {len(images)} images but {labels_path.name} holds {len(labels)} labels;"
            " the two files must describe the same images"
        )
    return images, labels


def encode_images(images: np.ndarray) -> bytes:
    """A ``(N, rows, cols)`` uint8 array as IDX bytes."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    return struct.pack(">IIII", IMAGES_MAGIC, *images.shape) + images.tobytes()


def encode_labels(labels: np.ndarray) -> bytes:
    """An ``(N,)`` uint8 array as IDX label bytes."""
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    return struct.pack(">II", LABELS_MAGIC, len(labels)) + labels.tobytes()


def _read(path: Path, magic: int) -> tuple[tuple[int, ...], bytes]:
    """The dimensions and data of an IDX file (``.gz`` or plain), checked against its header. Reads at most one
    byte past what the header promises, so a gzip bomb is refused after that byte."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    size = path.stat().st_size
    if not size:
        raise DataError(f"{path}: empty file (0 bytes); download it again")
    kind, ndim = ("images", 3) if magic == IMAGES_MAGIC else ("labels", 1)
    header = 4 + 4 * ndim
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if not compressed and path.suffix == ".gz":
            raise DataError(f"{path}: byte 0: not a gzip file (no gzip signature); download it again")
        stream = gzip.GzipFile(fileobj=raw) if compressed else raw
        try:
            head = stream.read(header)
            found = int.from_bytes(head[:4], "big") if len(head) >= 4 else magic
            if found != magic:
                other = {IMAGES_MAGIC: "an images file", LABELS_MAGIC: "a labels file"}.get(found, "not an IDX file")
                raise DataError(
                    f"{path}: byte 0: IDX magic number {found} (0x{found:08x}), expected {magic} for {kind}"
                    f" ({other}); check that the file is the right one"
                )
            if len(head) < header:
                raise DataError(f"{path}: truncated IDX header: {len(head)} bytes, an IDX {kind} header needs {header}")
            dims = struct.unpack_from(f">{ndim}I", head, 4)
            if ndim == 3 and dims[1:] != (28, 28):
                raise DataError(
                    f"{path}: bytes 8-15: images are {dims[1]}x{dims[2]}, expected 28x28"
                    " (Fashion-MNIST images are 28x28 grey)"
                )
            expected = math.prod(dims)
            if expected > MAX_DATA_BYTES:
                raise DataError(
                    f"{path}: bytes 4-{header - 1}: the header promises {expected:,} bytes of data, more"
                    f" than {MAX_DATA_BYTES:,} (100,000 images); check that the file is the right one"
                )
            body = stream.read(expected + 1)
        except EOFError:
            raise DataError(
                f"{path}: truncated gzip file: the compressed stream ends at byte {size} before its end marker;"
                " download it again"
            ) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc}); download it again") from None
    what = f"{dims[0]} images of 28x28" if ndim == 3 else f"{dims[0]} labels"
    if len(body) < expected:
        raise DataError(
            f"{path}: truncated IDX data: the header promises {what} ({expected} bytes after the {header}-byte"
            f" header) but the data ends at byte {header + len(body)} ({expected - len(body)} bytes missing)"
        )
    if len(body) > expected:
        raise DataError(f"{path}: byte {header + expected}: unexpected bytes after the {what} the header promises")
    return dims, body
