from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fmnist.data.parquet import read_split, write_split
from fmnist.errors import DataError
from tests.factories import make_arrays


def test_round_trip_as_flat_pixels(tmp_path: Path) -> None:
    images, labels = make_arrays(40)
    write_split(tmp_path / "s.parquet", images, labels)
    pixels, got_labels = read_split(tmp_path / "s.parquet")
    assert pixels.shape == (40, 784) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, images.reshape(40, 784))
    np.testing.assert_array_equal(got_labels, labels)


def test_same_arrays_give_identical_bytes(tmp_path: Path) -> None:
    images, labels = make_arrays(40)
    write_split(tmp_path / "a.parquet", images, labels)
    write_split(tmp_path / "b.parquet", images, labels)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_changed_schema_is_rejected(tmp_path: Path) -> None:
    table = pa.table({"label": pa.array([1, 2], pa.int64()), "pixels": pa.array([b"x" * 784] * 2, pa.binary(784))})
    pq.write_table(table, tmp_path / "s.parquet")
    with pytest.raises(DataError, match=r"unexpected Parquet schema \(label: int64, pixels: fixed_size_binary"):
        read_split(tmp_path / "s.parquet")


def test_not_parquet(tmp_path: Path) -> None:
    (tmp_path / "s.parquet").write_bytes(b"definitely not parquet")
    with pytest.raises(DataError, match=r"not a readable Parquet file"):
        read_split(tmp_path / "s.parquet")
