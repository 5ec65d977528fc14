"""The training both frameworks run, written once: data, batch order, seeds, learning rates, the epoch loop (early
stopping, keep-best, resume) and its checkpoint state. A `Backend` supplies only what differs between frameworks."""

from __future__ import annotations

import json
import math
import shutil
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from fmnist.atomic import atomic_path, atomic_write_text
from fmnist.config import ModelConfig, TrainConfig, flat_params
from fmnist.data.manifest import read_verified_split
from fmnist.models.numpy_net import NetworkArrays, count_trainable_params, preprocess

STATE_FILE = "state.json"
EVAL_CHUNK = 8192  # rows per inference call


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


def load_train_data(split_dir: Path | str) -> TrainData:
    """``train`` and ``val`` from ``split_dir``, each checked against the folder's manifest."""
    x_train, y_train = read_verified_split(Path(split_dir), "train")
    x_val, y_val = read_verified_split(Path(split_dir), "val")
    return TrainData(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)


@dataclass(frozen=True)
class EpochMetrics:
    """What one epoch (numbered from 1) produced. ``train_*``: the sample-weighted mean over the epoch's batches,
    while the model changes (as Keras's progress bar shows); ``val_*``: measured after the epoch, in inference mode."""

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


@dataclass
class TrainResult:
    """What `fit` returns. ``best_epoch`` has the lowest validation loss; ``model`` and ``best_checkpoint`` hold
    the weights to ship: that epoch's with ``restore_best_weights`` (the default), the last epoch's without it."""

    framework: str
    best_epoch: int
    stopped_epoch: int
    history: list[EpochMetrics]
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    model: Any
    params: dict[str, str | int | float]


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Batches per epoch; the last one may be partial (as Keras and DataLoader do by default)."""
    return math.ceil(n_samples / batch_size)


def epoch_seed(seed: int, epoch: int) -> int:
    """A 31-bit seed for everything random in ``epoch``, so a resumed run replays it exactly."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] & 0x7FFFFFFF)


def batch_order(n_samples: int, train_cfg: TrainConfig, epoch: int, framework: str) -> np.ndarray:
    """The permutation of training rows for ``epoch`` (int64)."""
    entropy = [train_cfg.seed, epoch]
    if train_cfg.batch_order == "per_framework":
        # Two independent scripts would not share a shuffle; crc32 is stable across processes.
        entropy.append(zlib.crc32(framework.encode()))
    return np.random.default_rng(entropy).permutation(n_samples)


def lr_table(train_cfg: TrainConfig, n_steps_per_epoch: int) -> np.ndarray:
    """Learning rate for every optimizer step of the run (float64, length max_epochs*steps)."""
    total = train_cfg.max_epochs * n_steps_per_epoch
    step = np.arange(total, dtype=np.float64)
    peak = train_cfg.lr
    if train_cfg.schedule == "constant":
        return np.full(total, peak)
    if train_cfg.schedule == "cosine":
        return 0.5 * peak * (1.0 + np.cos(np.pi * step / total))
    if train_cfg.schedule == "onecycle":
        # Linear warm-up from peak/25, then cosine down to ~0 (peak/25/1e4), like torch's OneCycleLR.
        warm = max(1, round(train_cfg.warmup_fraction * total))
        start, end = peak / 25.0, peak / 25.0 / 1e4
        up = start + (peak - start) * step[:warm] / warm
        t = (step[warm:] - warm) / max(1, total - warm)
        down = end + 0.5 * (peak - end) * (1.0 + np.cos(np.pi * t))
        return np.concatenate([up, down])
    raise ValueError(f"unknown schedule {train_cfg.schedule!r}")


@dataclass
class EarlyStopping:
    """Patience on validation loss (lower is better), as keras.callbacks.EarlyStopping with min_delta=0."""

    patience: int
    best_epoch: int = 0
    best_val_loss: float = math.inf
    wait: int = 0

    def update(self, epoch: int, val_loss: float) -> bool:
        """Record ``epoch``'s val loss; True when it is the new best."""
        if val_loss < self.best_val_loss:
            self.best_epoch, self.best_val_loss, self.wait = epoch, val_loss, 0
            return True
        self.wait += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.wait >= self.patience


def write_state(checkpoint_dir: Path, framework: str, stopper: EarlyStopping, history: list[EpochMetrics]) -> None:
    """Write the small JSON resume state atomically."""
    state = {
        "framework": framework,
        "epoch": history[-1].epoch,
        "best_epoch": stopper.best_epoch,
        "best_val_loss": stopper.best_val_loss,
        "wait": stopper.wait,
        "history": [asdict(m) for m in history],
    }
    atomic_write_text(checkpoint_dir / STATE_FILE, json.dumps(state, indent=1))


def read_state(checkpoint_dir: Path | None, framework: str) -> dict[str, Any] | None:
    """The resume state in ``checkpoint_dir``, or None when there is nothing to resume."""
    if checkpoint_dir is None or not (checkpoint_dir / STATE_FILE).exists():
        return None
    state = json.loads((checkpoint_dir / STATE_FILE).read_text())
    if state["framework"] != framework:
        raise ValueError(f"{checkpoint_dir} holds a {state['framework']} run, not {framework}")
    return state


class Backend(ABC):
    """One framework's side of a training, built by `fit` around a fresh model and optimizer. Subclasses set
    ``FRAMEWORK`` and ``SUFFIX`` (of a checkpoint file) and implement the methods below as mirror images."""

    FRAMEWORK: ClassVar[str]
    SUFFIX: ClassVar[str]
    model: Any
    x_val: Any  # the validation rows as the framework's tensors, preprocessed
    y_val: Any

    # Set the threads; build model, optimizer (learning rate ``lrs[k]`` at step k) and the data tensors.
    @abstractmethod
    def __init__(self, data: TrainData, model_cfg: ModelConfig, train_cfg: TrainConfig, lrs: np.ndarray) -> None: ...
    # (mean loss, accuracy) of training one epoch over the rows in ``perm`` order.
    @abstractmethod
    def train_epoch(self, epoch: int, perm: np.ndarray) -> tuple[float, float]: ...
    # (summed loss, correct predictions) of some rows, in inference mode.
    @abstractmethod
    def val_sums(self, x: Any, y: Any) -> tuple[float, int]: ...
    # A copy of the weights that further training leaves alone, and putting one back.
    @abstractmethod
    def get_weights(self) -> Any: ...
    @abstractmethod
    def set_weights(self, weights: Any) -> None: ...
    # Weights and optimizer state to ``path`` (and siblings) atomically, and back.
    @abstractmethod
    def save(self, path: Path) -> None: ...
    @abstractmethod
    def load(self, path: Path, with_optimizer: bool) -> None: ...
    # The framework's own settings and defaults that matter, as loggable scalars.
    @abstractmethod
    def params(self) -> dict[str, str | int | float]: ...
    # A model holding the weights of a checkpoint written by `fit`.
    @staticmethod
    @abstractmethod
    def load_checkpoint(path: Path, model_cfg: ModelConfig) -> Any: ...
    # Class probabilities of preprocessed rows.
    @staticmethod
    @abstractmethod
    def probabilities(model: Any, x: np.ndarray, model_cfg: ModelConfig) -> np.ndarray: ...
    # The model's inference-mode arrays, for `fmnist.models.numpy_net`.
    @staticmethod
    @abstractmethod
    def network_arrays(model: Any, model_cfg: ModelConfig) -> NetworkArrays: ...

    def evaluate(self) -> tuple[float, float]:
        """(mean loss, accuracy) on the validation rows, with the training loss function."""
        loss_sum, correct = 0.0, 0
        for start in range(0, len(self.x_val), EVAL_CHUNK):
            chunk = slice(start, start + EVAL_CHUNK)
            loss, hits = self.val_sums(self.x_val[chunk], self.y_val[chunk])
            loss_sum, correct = loss_sum + loss, correct + hits
        return loss_sum / len(self.x_val), correct / len(self.x_val)

    @classmethod
    def predict_proba(cls, model: Any, x_uint8: np.ndarray, model_cfg: ModelConfig) -> np.ndarray:
        """Class probabilities (N, 10) for raw uint8 pixels."""
        x = preprocess(x_uint8, model_cfg)
        chunks = [cls.probabilities(model, x[s : s + EVAL_CHUNK], model_cfg) for s in range(0, len(x), EVAL_CHUNK)]
        return np.concatenate(chunks) if chunks else np.zeros((0, model_cfg.n_classes), np.float32)

    @classmethod
    def fit(
        cls,
        data: TrainData,
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
        on_epoch_end: Callable[[EpochMetrics], None] | None = None,
        checkpoint_dir: Path | None = None,
    ) -> TrainResult:
        """Train with early stopping on val loss, resuming from ``checkpoint_dir`` if it holds a run.
        ``epoch_seconds`` times the training pass only, not validation or checkpointing."""
        n_train = len(data.x_train)
        n_steps = steps_per_epoch(n_train, train_cfg.batch_size)
        lrs = lr_table(train_cfg, n_steps)
        backend = cls(data, model_cfg, train_cfg, lrs)
        stopper, history = EarlyStopping(train_cfg.patience), []
        last_ckpt = best_ckpt = None
        if checkpoint_dir is not None:
            checkpoint_dir = Path(checkpoint_dir)
            checkpoint_dir.mkdir(parents=True, exist_ok=True)

        def checkpoint(name: str) -> Path:
            return checkpoint_dir / f"{name}{cls.SUFFIX}"

        if (state := read_state(checkpoint_dir, cls.FRAMEWORK)) is not None:
            stopper = EarlyStopping(train_cfg.patience, state["best_epoch"], state["best_val_loss"], state["wait"])
            history = [EpochMetrics(**m) for m in state["history"]]
            last_ckpt, best_ckpt = checkpoint(f"epoch-{state['epoch']:03d}"), checkpoint("best")
            backend.load(best_ckpt, with_optimizer=False)
            best_weights = backend.get_weights()
            backend.load(last_ckpt, with_optimizer=True)
        else:
            best_weights = backend.get_weights()

        for epoch in range(len(history) + 1, train_cfg.max_epochs + 1):
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
                last_ckpt, best_ckpt = checkpoint(f"epoch-{epoch:03d}"), checkpoint("best")
            metrics = EpochMetrics(
                epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
                val_acc=val_acc, lr=float(lrs[epoch * n_steps - 1]), epoch_seconds=seconds,
                samples_per_second=n_train / seconds, is_best=is_best,
                checkpoint_path=None if last_ckpt is None else str(last_ckpt),
            )  # fmt: skip
            history.append(metrics)
            if checkpoint_dir is not None:
                backend.save(last_ckpt)
                # `best` holds the weights fit() returns: the best-val epoch's, or the latest without
                # restore_best_weights.
                if is_best or not train_cfg.restore_best_weights:
                    with atomic_path(best_ckpt) as tmp:
                        shutil.copyfile(last_ckpt, tmp)
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
                "n_params": count_trainable_params(model_cfg),
                **backend.params(),
            },
        )
