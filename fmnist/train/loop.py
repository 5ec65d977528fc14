"""The epoch loop both frameworks run: resume, early stopping, keep-best checkpoint, per-epoch callback, history.

A `Backend` supplies only what differs between frameworks (model, optimizer, one training epoch, evaluation,
checkpoint files); everything else about a training exists here once.
"""

from __future__ import annotations

import math
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from fmnist.atomic import atomic_path
from fmnist.config import ModelConfig, TrainConfig, flat_params
from fmnist.models.numpy_net import NetworkArrays
from fmnist.train.common import (
    batch_order,
    checkpoint_name,
    lr_table,
    read_state,
    restore_progress,
    steps_per_epoch,
    write_state,
)
from fmnist.train.types import EpochMetrics, TrainData, TrainResult


class Backend(ABC):
    """One framework's side of a training: built by `fit` around a fresh model and optimizer.

    Subclasses set ``FRAMEWORK`` and ``SUFFIX`` (of a checkpoint file) and implement the methods below, in
    this order, as mirror images of each other.
    """

    FRAMEWORK: ClassVar[str]
    SUFFIX: ClassVar[str]
    model: Any  # the network being trained

    @abstractmethod
    def __init__(self, data: TrainData, model_cfg: ModelConfig, train_cfg: TrainConfig, lrs: np.ndarray) -> None:
        """Set threads, build model and optimizer (learning rate ``lrs[step]`` at each step), pre-build tensors."""

    @abstractmethod
    def train_epoch(self, epoch: int, perm: np.ndarray) -> tuple[float, float]:
        """Train one epoch over the rows in ``perm`` order; (mean train loss, train accuracy)."""

    @abstractmethod
    def evaluate(self) -> tuple[float, float]:
        """(mean loss, accuracy) on the validation rows, in inference mode."""

    @abstractmethod
    def get_weights(self) -> Any:
        """A copy of the model's weights, unaffected by further training."""

    @abstractmethod
    def set_weights(self, weights: Any) -> None:
        """Put back weights from `get_weights`."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write weights and optimizer state to ``path`` (and siblings), atomically."""

    @abstractmethod
    def load(self, path: Path, with_optimizer: bool) -> None:
        """Read back what `save` wrote: the weights, and the optimizer state if ``with_optimizer``."""

    @abstractmethod
    def params(self) -> dict[str, str | int | float]:
        """The framework's own settings and defaults that matter, as loggable scalars."""

    @staticmethod
    @abstractmethod
    def build_model(model_cfg: ModelConfig, seed: int) -> Any:
        """A freshly initialised network."""

    @staticmethod
    @abstractmethod
    def load_checkpoint(path: Path, model_cfg: ModelConfig) -> Any:
        """A model with the weights of a checkpoint written by `fit` (ready for `predict_proba`)."""

    @staticmethod
    @abstractmethod
    def predict_proba(model: Any, x_uint8: np.ndarray, model_cfg: ModelConfig) -> np.ndarray:
        """Class probabilities (N, 10) for raw uint8 pixels."""

    @staticmethod
    @abstractmethod
    def network_arrays(model: Any, model_cfg: ModelConfig) -> NetworkArrays:
        """The model's inference-mode arrays, for `fmnist.models.numpy_net`."""

    @classmethod
    def fit(
        cls,
        data: TrainData,
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
        on_epoch_end: Callable[[EpochMetrics], None] | None = None,
        checkpoint_dir: Path | None = None,
    ) -> TrainResult:
        """Train with early stopping on val loss; resume from ``checkpoint_dir`` if it holds a run.

        ``epoch_seconds`` times the training pass only (not validation or checkpointing).
        """
        n_train = len(data.x_train)
        n_steps = steps_per_epoch(n_train, train_cfg.batch_size)
        lrs = lr_table(train_cfg, n_steps)
        backend = cls(data, model_cfg, train_cfg, lrs)
        if checkpoint_dir is not None:
            checkpoint_dir = Path(checkpoint_dir)
            checkpoint_dir.mkdir(parents=True, exist_ok=True)

        def checkpoint(stem: str) -> Path:
            return checkpoint_dir / f"{stem}{cls.SUFFIX}"

        state = read_state(checkpoint_dir, cls.FRAMEWORK)
        done, stopper, history = restore_progress(state, train_cfg.patience)
        last_ckpt = best_ckpt = None
        if state is not None:
            last_ckpt, best_ckpt = checkpoint(checkpoint_name(done)), checkpoint("best")
            backend.load(best_ckpt, with_optimizer=False)
            best_weights = backend.get_weights()
            backend.load(last_ckpt, with_optimizer=True)
        else:
            best_weights = backend.get_weights()

        for epoch in range(done + 1, train_cfg.max_epochs + 1):
            if stopper.should_stop:
                break
            perm = batch_order(n_train, train_cfg, epoch, cls.FRAMEWORK)
            t0 = time.perf_counter()
            train_loss, train_acc = backend.train_epoch(epoch, perm)
            seconds = time.perf_counter() - t0
            val_loss, val_acc = backend.evaluate()
            if not math.isfinite(val_loss):
                raise FloatingPointError(f"validation loss is {val_loss} at epoch {epoch}")
            is_best = stopper.update(epoch, val_loss)
            if is_best:
                best_weights = backend.get_weights()
            if checkpoint_dir is not None:
                last_ckpt, best_ckpt = checkpoint(checkpoint_name(epoch)), checkpoint("best")
                backend.save(last_ckpt)
                # `best` holds the weights fit() will return: the best-val epoch, or the latest one
                # when restore_best_weights is off (then the last epoch is the one shipped).
                if is_best or not train_cfg.restore_best_weights:
                    with atomic_path(best_ckpt) as tmp:
                        shutil.copyfile(last_ckpt, tmp)
            metrics = EpochMetrics(
                epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
                val_acc=val_acc, lr=float(lrs[epoch * n_steps - 1]), epoch_seconds=seconds,
                samples_per_second=n_train / seconds, is_best=is_best,
                checkpoint_path=None if last_ckpt is None else str(last_ckpt),
            )  # fmt: skip
            history.append(metrics)
            if checkpoint_dir is not None:
                # State last: a crash before this line resumes from the previous epoch.
                write_state(checkpoint_dir, cls.FRAMEWORK, stopper, history)
            if on_epoch_end is not None:
                on_epoch_end(metrics)

        if train_cfg.restore_best_weights:
            backend.set_weights(best_weights)
        return TrainResult(
            framework=cls.FRAMEWORK,
            best_epoch=stopper.best_epoch,
            stopped_epoch=history[-1].epoch if history else 0,
            history=history,
            best_checkpoint=best_ckpt,
            last_checkpoint=last_ckpt,
            model=backend.model,
            params={
                **flat_params(model_cfg, train_cfg),
                "framework": cls.FRAMEWORK,
                "adam_beta1": train_cfg.adam_beta1,
                "adam_beta2": train_cfg.adam_beta2,
                **backend.params(),
            },
        )
