"""Property-based corruption: whatever happens to the bytes of an input file, the readers raise `DataError` or
return well-formed arrays, and a split is never written from a corrupted source."""

from __future__ import annotations

import gzip
import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fmnist.data import idx, kaggle_csv
from fmnist.data.ingest import CSV_TRAIN, RELEASE_FILES
from fmnist.errors import DataError
from tests.factories import make_arrays, snapshot, write_csv_pair, write_release

IMAGES, LABELS = make_arrays(4, seed=3)
IMAGES_RAW = idx.encode_images(IMAGES)
LABELS_RAW = idx.encode_labels(LABELS)
IMAGES_GZ = gzip.compress(IMAGES_RAW, mtime=0)
LABELS_GZ = gzip.compress(LABELS_RAW, mtime=0)
CSV = kaggle_csv.encode_csv(*make_arrays(3, seed=4))

FUZZ = settings(
    max_examples=200, suppress_health_check=[*settings().suppress_health_check, HealthCheck.function_scoped_fixture]
)


@st.composite
def corruptions(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` after 1-4 random edits: flip bits of a byte, truncate, insert or delete bytes."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif out:
            del out[at : at + draw(st.integers(1, 16))]
    return bytes(out)


def write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    return tmp_path


@FUZZ
@given(data=st.one_of(corruptions(IMAGES_GZ), corruptions(IMAGES_RAW)))
def test_corrupt_idx_images_raise_only_data_error(folder: Path, data: bytes) -> None:
    path = write(folder, "x-images-idx3-ubyte.gz" if data[:2] == b"\x1f\x8b" else "x-images-idx3-ubyte", data)
    try:
        images = idx.read_images(path)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)


@FUZZ
@given(data=st.one_of(corruptions(LABELS_GZ), corruptions(LABELS_RAW)))
def test_corrupt_idx_labels_raise_only_data_error(folder: Path, data: bytes) -> None:
    path = write(folder, "x-labels-idx1-ubyte.gz" if data[:2] == b"\x1f\x8b" else "x-labels-idx1-ubyte", data)
    try:
        labels = idx.read_labels(path)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    assert labels.dtype == np.uint8 and labels.ndim == 1 and (labels <= 9).all()


@FUZZ
@given(data=corruptions(CSV))
@example(data=CSV[:-1] + b"\x0b\n")  # found by this test: the parser rejects a vertical tab the row scan stripped
def test_corrupt_csv_raises_only_data_error(folder: Path, data: bytes) -> None:
    path = write(folder, CSV_TRAIN, data)
    try:
        images, labels = kaggle_csv.read_csv(path)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    assert images.dtype == np.uint8 and images.shape == (len(labels), 28, 28)
    assert labels.dtype == np.uint8 and (labels <= 9).all()


def prepare_after_corruption(kind: str, data: bytes) -> str | None:
    """Corrupt one file of a tiny source, try to split it; a failure must leave the output folder empty.

    Returns the error message, or None when the corrupted source still made a valid split."""
    from fmnist.data.ingest import ingest
    from fmnist.data.prepare import prepare_splits
    from fmnist.data.split import SplitSizes

    with tempfile.TemporaryDirectory() as tmp:
        source_dir, out = Path(tmp) / "source", Path(tmp) / "out"
        if kind == "csv":
            write_csv_pair(source_dir, n_train=40, n_test=10)
            (source_dir / CSV_TRAIN).write_bytes(data)
            source = ingest(source_dir)
        else:
            md5 = write_release(source_dir, n_train=40, n_test=10)
            name = RELEASE_FILES["train_images"]
            (source_dir / name).write_bytes(data)
            md5[name] = hashlib.md5(data).hexdigest()  # accepted as official, so the parser sees the damage
            source = ingest(source_dir, checksums=md5)
        try:
            prepare_splits(source, out, seed=0, sizes=SplitSizes(val=10, test=10))
        except DataError as exc:
            assert snapshot(out) == {}
            assert "\n" not in str(exc)
            return str(exc)
        assert sorted(snapshot(out)) == [
            "manifest.json", "official_test.parquet", "test.parquet", "train.parquet", "val.parquet",
        ]  # fmt: skip
        return None


def _tiny_source_bytes() -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        write_csv_pair(Path(tmp) / "c", n_train=40, n_test=10)
        write_release(Path(tmp) / "r", n_train=40, n_test=10)
        csv_bytes = (Path(tmp) / "c" / CSV_TRAIN).read_bytes()
        return csv_bytes, (Path(tmp) / "r" / RELEASE_FILES["train_images"]).read_bytes()


TINY_CSV, TINY_IDX_GZ = _tiny_source_bytes()


# Found by the test below: a bare carriage return inside a row (the parser ends the line there).
CR_IN_ROW = TINY_CSV.replace(b"\n3,", b"\n3\r,", 1)


def test_prepare_splits_refuses_a_carriage_return_inside_a_row() -> None:
    message = prepare_after_corruption("csv", CR_IN_ROW)
    assert message is not None and message.endswith(f"/{CSV_TRAIN}: line 2: 1 columns, expected 785")


@settings(max_examples=60)
@given(data=corruptions(TINY_CSV))
@example(data=CR_IN_ROW)
def test_prepare_splits_never_writes_from_corrupt_csv(data: bytes) -> None:
    prepare_after_corruption("csv", data)


@settings(max_examples=60)
@given(data=corruptions(TINY_IDX_GZ))
def test_prepare_splits_never_writes_from_corrupt_idx(data: bytes) -> None:
    prepare_after_corruption("idx", data)
