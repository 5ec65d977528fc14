"""Tiny, generated Fashion-MNIST look-alikes for unit tests (never the real data)."""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from fmnist.data import idx, kaggle_csv
from fmnist.data.ingest import CSV_TEST, CSV_TRAIN, RELEASE_FILES


def make_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random 28x28 uint8 images and balanced labels 0..9."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    return images, labels


def write_release(directory: Path, n_train: int = 200, n_test: int = 50, seed: int = 0) -> dict[str, str]:
    """Write the four release files (gzip IDX) of a tiny data set; return their md5s by file name."""
    directory.mkdir(parents=True, exist_ok=True)
    train = make_arrays(n_train, seed)
    test = make_arrays(n_test, seed + 1)
    payloads = {
        RELEASE_FILES["train_images"]: idx.encode_images(train[0]),
        RELEASE_FILES["train_labels"]: idx.encode_labels(train[1]),
        RELEASE_FILES["test_images"]: idx.encode_images(test[0]),
        RELEASE_FILES["test_labels"]: idx.encode_labels(test[1]),
    }
    md5 = {}
    for name, data in payloads.items():
        gz = gzip.compress(data, mtime=0)
        (directory / name).write_bytes(gz)
        md5[name] = hashlib.md5(gz).hexdigest()
    return md5


def write_csv_pair(directory: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """Write a tiny Kaggle-style CSV pair; return the path of the train file."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CSV_TRAIN).write_bytes(kaggle_csv.encode_csv(*make_arrays(n_train, seed)))
    (directory / CSV_TEST).write_bytes(kaggle_csv.encode_csv(*make_arrays(n_test, seed + 1)))
    return directory / CSV_TRAIN


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` (relative name → bytes), to prove a failure wrote nothing."""
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def write_splits(out: Path, n_train: int = 60, n_test: int = 20) -> Path:
    """A split folder as ``fmnist split`` writes it (four Parquet splits + manifest) of a tiny generated release,
    which is written beside it (``<out>-release``); return ``out``."""
    from fmnist.data.ingest import ingest
    from fmnist.data.prepare import prepare_splits
    from fmnist.data.split import SplitSizes

    release = out.with_name(out.name + "-release")
    md5 = write_release(release, n_train, n_test)
    prepare_splits(ingest(release, checksums=md5), out, seed=0, sizes=SplitSizes(val=10, test=10))
    return out


def png_bomb(side: int) -> bytes:
    """A valid 8-bit grey PNG of ``side`` x ``side`` black pixels, under a megabyte, that takes side² bytes to decode.

    Its zlib stream is one compressed megabyte of zeros repeated: each copy ends in a full flush, which makes every
    copy the same bytes, and the checksum of n zero bytes is known (Adler-32: ``(n % 65521) << 16 | 1``).
    """
    n = side * (side + 1)  # each row: filter byte 0, then the pixels
    block, compressor = 1 << 20, zlib.compressobj(9)
    first = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    copies, rest = divmod(n, block)
    tail = compressor.compress(bytes(rest)) + compressor.flush()
    pixels = first + again * (copies - 1) + tail[:-4] + struct.pack(">I", ((n % 65521) << 16) | 1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit grey, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def gzip_bomb(prefix: bytes, inflated: int) -> bytes:
    """gzip data, about a thousandth of ``inflated`` bytes, that inflates to ``prefix`` and then zeros, ``inflated``
    bytes in all: one member per megabyte of zeros, every one the same bytes (a reader goes on to the next member)."""
    block = 1 << 20
    zeros = gzip.compress(bytes(block), mtime=0)
    return gzip.compress(prefix, mtime=0) + zeros * ((inflated - len(prefix)) // block)


def write_split_folder(out: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """A split folder whose four splits all hold ``images``/``labels``, with a manifest every reader accepts: for
    tests that need particular images in one split (e.g. the official test set a registry scores on)."""
    from fmnist.data.manifest import Manifest, SplitInfo, file_digest, write_manifest
    from fmnist.data.parquet import FORMAT_VERSION, write_split

    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    for name in ("train", "val", "test", "official_test"):
        write_split(out / f"{name}.parquet", images, labels)
        counts = np.bincount(labels, minlength=10).tolist()
        sha = file_digest(out / f"{name}.parquet", "sha256")
        splits[name] = SplitInfo(file=f"{name}.parquet", rows=len(labels), class_counts=counts, sha256=sha)
    sizes = {"train": len(labels), "val": len(labels), "test": len(labels)}
    write_manifest(out, Manifest(FORMAT_VERSION, 0, sizes, {"kind": "generated"}, splits))
    return out
