"""Types shared by the Keras and the PyTorch trainer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TrainData:
    """Raw splits: ``x_*`` uint8 (N, 784), ``y_*`` integer labels (N,) in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray

    def __post_init__(self) -> None:
        for x, y, split in ((self.x_train, self.y_train, "train"), (self.x_val, self.y_val, "val")):
            if x.dtype != np.uint8 or x.ndim != 2:
                raise ValueError(f"x_{split} must be uint8 of shape (N, 784), got {x.dtype} {x.shape}")
            if y.ndim != 1 or len(y) != len(x):
                raise ValueError(f"y_{split} must have shape ({len(x)},), got {y.shape}")


@dataclass(frozen=True)
class EpochMetrics:
    """What one epoch produced. Epochs are numbered from 1.

    ``train_loss``/``train_acc`` are the sample-weighted running mean over the epoch's batches
    (the model changes during the epoch, as in Keras's progress bar); ``val_*`` are computed in
    inference mode after the epoch.
    """

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    epoch_seconds: float
    samples_per_second: float
    is_best: bool
    checkpoint_path: str | None = None

    def as_dict(self) -> dict[str, float]:
        """The loggable metrics under their canonical names."""
        return {
            "train/loss": self.train_loss,
            "train/acc": self.train_acc,
            "val/loss": self.val_loss,
            "val/acc": self.val_acc,
            "lr": self.lr,
            "epoch_seconds": self.epoch_seconds,
            "samples_per_second": self.samples_per_second,
        }

    def to_json(self) -> dict[str, Any]:
        """Every field, for the checkpoint state file."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EpochMetrics:
        return cls(**d)


@dataclass
class TrainResult:
    """What `fit` returns.

    ``best_epoch`` is the epoch with the lowest validation loss. ``model`` and ``best_checkpoint``
    hold the weights to ship: that epoch's with ``restore_best_weights`` (the default), the last
    epoch's without it.
    """

    framework: str
    best_epoch: int
    stopped_epoch: int
    history: list[EpochMetrics]
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    model: Any
    params: dict[str, str | int | float] = field(default_factory=dict)
