"""Load the train/val Parquet splits into a `TrainData`."""

from __future__ import annotations

from pathlib import Path

from fmnist.data.parquet import read_split
from fmnist.train.types import TrainData


def load_train_data(split_dir: Path | str) -> TrainData:
    """Read ``train.parquet`` and ``val.parquet`` from ``split_dir`` (see `fmnist.data.parquet` for the layout)."""
    split_dir = Path(split_dir)
    x_train, y_train = read_split(split_dir / "train.parquet")
    x_val, y_val = read_split(split_dir / "val.parquet")
    return TrainData(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
