from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from fmnist.data import idx
from fmnist.errors import DataError
from tests.factories import make_arrays


def _write(path: Path, data: bytes, compress: bool = True) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def test_round_trip_images_and_labels(tmp_path: Path) -> None:
    images, labels = make_arrays(30)
    img = _write(tmp_path / "i.gz", idx.encode_images(images))
    lab = _write(tmp_path / "l.gz", idx.encode_labels(labels))
    np.testing.assert_array_equal(idx.read_images(img), images)
    np.testing.assert_array_equal(idx.read_labels(lab), labels)


def test_plain_uncompressed_idx_is_read(tmp_path: Path) -> None:
    images, _ = make_arrays(3)
    path = _write(tmp_path / "images-idx3-ubyte", idx.encode_images(images), compress=False)
    np.testing.assert_array_equal(idx.read_images(path), images)


def test_wrong_magic_names_found_and_expected(tmp_path: Path) -> None:
    _, labels = make_arrays(5)
    path = _write(tmp_path / "x.gz", idx.encode_labels(labels))
    with pytest.raises(DataError, match=r"x\.gz: byte 0: IDX magic number 2049 .*expected 2051 for images"):
        idx.read_images(path)


def test_images_that_are_not_28x28_are_rejected(tmp_path: Path) -> None:
    data = struct.pack(">IIII", idx.IMAGES_MAGIC, 2, 32, 32) + bytes(2 * 32 * 32)
    with pytest.raises(DataError, match=r"images are 32x32, expected 28x28"):
        idx.read_images(_write(tmp_path / "x.gz", data))


def test_truncated_idx_payload_reports_missing_bytes(tmp_path: Path) -> None:
    images, _ = make_arrays(4)
    data = idx.encode_images(images)[:-100]
    with pytest.raises(DataError, match=r"truncated IDX data: .*4 images of 28x28.*100 bytes missing"):
        idx.read_images(_write(tmp_path / "x.gz", data))


def test_trailing_bytes_are_rejected(tmp_path: Path) -> None:
    _, labels = make_arrays(4)
    with pytest.raises(DataError, match=r"byte 12: unexpected bytes after the 4 labels"):
        idx.read_labels(_write(tmp_path / "x.gz", idx.encode_labels(labels) + b"abc"))


def test_a_header_promising_more_than_any_release_file_is_refused_unread(tmp_path: Path) -> None:
    data = struct.pack(">IIII", idx.IMAGES_MAGIC, 10**9, 28, 28)  # 784 GB promised; the stream never gets read
    with pytest.raises(DataError, match=r"bytes 4-15: the header promises 784,000,000,000 bytes of data, more than"):
        idx.read_images(_write(tmp_path / "x.gz", data))


def test_truncated_header(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"truncated IDX header: 6 bytes"):
        idx.read_images(_write(tmp_path / "x.gz", b"\x00\x00\x08\x03\x00\x00"))


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    images, _ = make_arrays(20)
    gz = gzip.compress(idx.encode_images(images), mtime=0)
    path = tmp_path / "x.gz"
    path.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DataError, match=r"truncated gzip file: the compressed stream ends at byte \d+"):
        idx.read_images(path)


def test_not_gzip_with_gz_suffix(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(b"hello, not gzip")
    with pytest.raises(DataError, match=r"byte 0: not a gzip file"):
        idx.read_images(path)


def test_corrupt_gzip_crc(tmp_path: Path) -> None:
    gz = bytearray(gzip.compress(idx.encode_labels(np.zeros(10, np.uint8)), mtime=0))
    gz[-8] ^= 0xFF  # flip a byte of the CRC32 trailer
    path = tmp_path / "x.gz"
    path.write_bytes(bytes(gz))
    with pytest.raises(DataError, match=r"corrupt gzip data"):
        idx.read_labels(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty file"):
        idx.read_labels(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.gz: file not found"):
        idx.read_labels(tmp_path / "nope.gz")


@pytest.mark.parametrize("bad", [10, 255])
def test_label_outside_range_names_item_and_offset(tmp_path: Path, bad: int) -> None:
    labels = np.zeros(7, np.uint8)
    labels[5] = bad
    with pytest.raises(DataError, match=rf"byte 13: label {bad} at item 5 is outside 0..9"):
        idx.read_labels(_write(tmp_path / "x.gz", idx.encode_labels(labels)))
