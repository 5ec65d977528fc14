from pathlib import Path

import numpy as np
import pytest

from fmnist.data.parquet import read_split, write_split
from fmnist.errors import DataError
from fmnist.train.loop import load_train_data
from tests.factories import make_arrays, write_splits


def test_load_train_data_reads_train_and_val(tmp_path: Path) -> None:
    splits = write_splits(tmp_path / "splits")
    data = load_train_data(splits)
    x_val, y_val = read_split(splits / "val.parquet")
    np.testing.assert_array_equal(data.x_val, x_val)
    np.testing.assert_array_equal(data.y_val, y_val)
    assert data.x_train.dtype == np.uint8 and data.x_train.shape == (40, 784)


def test_load_train_data_refuses_a_split_that_changed_after_the_manifest(tmp_path: Path) -> None:
    splits = write_splits(tmp_path / "splits")
    write_split(splits / "train.parquet", *make_arrays(40, seed=9))  # a valid split, not the one recorded
    with pytest.raises(DataError, match=r"train\.parquet: sha256 .* does not match"):
        load_train_data(splits)
