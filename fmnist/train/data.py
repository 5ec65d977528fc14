"""Load the train/val Parquet splits into a `TrainData`."""

from __future__ import annotations

from pathlib import Path

from fmnist.data.manifest import read_verified_split
from fmnist.train.types import TrainData


def load_train_data(split_dir: Path | str) -> TrainData:
    """Read ``train`` and ``val`` from ``split_dir``, each checked against the folder's manifest."""
    x_train, y_train = read_verified_split(Path(split_dir), "train")
    x_val, y_val = read_verified_split(Path(split_dir), "val")
    return TrainData(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
