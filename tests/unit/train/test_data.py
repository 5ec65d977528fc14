from pathlib import Path

import numpy as np

from fmnist.data.parquet import write_split
from fmnist.train.data import load_train_data


def test_load_train_data_reads_train_and_val(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 30).astype(np.uint8)
    write_split(tmp_path / "train.parquet", x[:20], y[:20])
    write_split(tmp_path / "val.parquet", x[20:], y[20:])
    data = load_train_data(tmp_path)
    np.testing.assert_array_equal(data.x_train, x[:20])
    np.testing.assert_array_equal(data.y_val, y[20:])
    assert data.x_train.dtype == np.uint8 and data.x_train.shape == (20, 784)
