"""Read and validate the IDX files of the official Fashion-MNIST release (optionally gzip-compressed).

IDX layout: a 4-byte magic number (two zero bytes, a type code, 0x08 for uint8, and the number of dimensions),
one big-endian uint32 per dimension, then the raw values. Images are magic 2051 (3 dims), labels 2049 (1 dim).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from fmnist.classes import NUM_CLASSES
from fmnist.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
IMAGE_SIDE = 28
MAX_DATA_BYTES = 100_000 * IMAGE_SIDE * IMAGE_SIDE  # the largest release file holds 60,000 images


def read_bytes(path: Path) -> bytes:
    """Return the decompressed contents of an IDX file (``.gz`` or plain), with clear errors.

    Reads no more than the header promises, plus one byte to tell that more follows: a file that inflates to
    gigabytes is refused after that byte, never read whole.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    size = path.stat().st_size
    if not size:
        raise DataError(f"{path}: empty file (0 bytes); download it again")
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if not compressed and path.suffix == ".gz":
            raise DataError(f"{path}: byte 0: not a gzip file (no gzip signature); download it again")
        stream = gzip.GzipFile(fileobj=raw) if compressed else raw
        try:
            head = stream.read(4)
            # Only the two magic numbers read here say how much follows; the parser refuses any other, unread.
            ndim = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}.get(int.from_bytes(head, "big"), 0)
            head += stream.read(4 * ndim)
            dims = struct.unpack_from(f">{ndim}I", head, 4) if len(head) == 4 + 4 * ndim else ()
            if math.prod(dims) > MAX_DATA_BYTES:
                raise DataError(
                    f"{path}: bytes 4-{3 + 4 * ndim}: the header promises {math.prod(dims):,} bytes of data, more"
                    f" than {MAX_DATA_BYTES:,} (100,000 images); check that the file is the right one"
                )
            return _read_at_most(stream, head, len(head) + math.prod(dims) + 1)
        except EOFError:
            raise DataError(
                f"{path}: truncated gzip file: the compressed stream ends at byte {size} before its end marker;"
                " download it again"
            ) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc}); download it again") from None


def _read_at_most(stream: BinaryIO, head: bytes, limit: int) -> bytes:
    """``head`` followed by what ``stream`` holds, up to ``limit`` bytes in all, read in bounded chunks."""
    parts, left = [head], limit - len(head)
    while left > 0 and (part := stream.read(min(left, 1 << 20))):
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def parse_images(data: bytes, path: Path | str = "<bytes>") -> np.ndarray:
    """Parse IDX image bytes into a ``(N, 28, 28)`` uint8 array (a read-only view of ``data``)."""
    dims = _parse_header(data, path, IMAGES_MAGIC, ndim=3, kind="images")
    count, rows, cols = dims
    if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(
            f"{path}: bytes 8-15: images are {rows}x{cols}, expected {IMAGE_SIDE}x{IMAGE_SIDE}"
            " (Fashion-MNIST images are 28x28 grey)"
        )
    body = _body(data, path, header=16, expected=count * rows * cols, what=f"{count} images of {rows}x{cols}")
    return np.frombuffer(body, dtype=np.uint8).reshape(count, rows, cols)


def parse_labels(data: bytes, path: Path | str = "<bytes>") -> np.ndarray:
    """Parse IDX label bytes into an ``(N,)`` uint8 array, checking every label is a class id."""
    (count,) = _parse_header(data, path, LABELS_MAGIC, ndim=1, kind="labels")
    body = _body(data, path, header=8, expected=count, what=f"{count} labels")
    labels = np.frombuffer(body, dtype=np.uint8)
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: byte {8 + i}: label {int(labels[i])} at item {i} is outside 0..{NUM_CLASSES - 1}"
            f" ({bad.size} bad labels in all)"
        )
    return labels


def read_images(path: Path) -> np.ndarray:
    """Read an IDX image file (``.gz`` or plain)."""
    return parse_images(read_bytes(path), path)


def read_labels(path: Path) -> np.ndarray:
    """Read an IDX label file (``.gz`` or plain)."""
    return parse_labels(read_bytes(path), path)


def encode_images(images: np.ndarray) -> bytes:
    """Encode a ``(N, rows, cols)`` uint8 array as IDX bytes (used to write test fixtures and exports)."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    n, rows, cols = images.shape
    return struct.pack(">IIII", IMAGES_MAGIC, n, rows, cols) + images.tobytes()


def encode_labels(labels: np.ndarray) -> bytes:
    """Encode an ``(N,)`` uint8 array as IDX label bytes."""
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    return struct.pack(">II", LABELS_MAGIC, labels.shape[0]) + labels.tobytes()


def _parse_header(data: bytes, path: Path | str, magic: int, ndim: int, kind: str) -> tuple[int, ...]:
    header_len = 4 + 4 * ndim
    found = struct.unpack_from(">I", data, 0)[0] if len(data) >= 4 else magic
    if found != magic:
        other = {IMAGES_MAGIC: "an images file", LABELS_MAGIC: "a labels file"}.get(found, "not an IDX file")
        raise DataError(
            f"{path}: byte 0: IDX magic number {found} (0x{found:08x}), expected {magic} for {kind}"
            f" ({other}); check that the file is the right one"
        )
    if len(data) < header_len:
        raise DataError(f"{path}: truncated IDX header: {len(data)} bytes, an IDX {kind} header needs {header_len}")
    return struct.unpack_from(f">{ndim}I", data, 4)


def _body(data: bytes, path: Path | str, header: int, expected: int, what: str) -> memoryview:
    got = len(data) - header
    if got < expected:
        raise DataError(
            f"{path}: truncated IDX data: the header promises {what} ({expected} bytes after the {header}-byte"
            f" header) but the data ends at byte {len(data)} ({expected - got} bytes missing)"
        )
    if got > expected:
        raise DataError(f"{path}: byte {header + expected}: unexpected bytes after the {what} the header promises")
    return memoryview(data)[header:]
