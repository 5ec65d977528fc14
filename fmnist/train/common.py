"""Framework-neutral training pieces both trainers share: batch order, seeds, LR, early stopping,
checkpoint state. Keeping them here is what makes the two trainers the same program."""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.atomic import atomic_write_text
from fmnist.config import TrainConfig
from fmnist.train.types import EpochMetrics

STATE_FILE = "state.json"


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


def checkpoint_name(epoch: int) -> str:
    """File stem of the checkpoint written after ``epoch``."""
    return f"epoch-{epoch:03d}"


def write_state(checkpoint_dir: Path, framework: str, stopper: EarlyStopping, history: list[EpochMetrics]) -> None:
    """Write the small JSON resume state atomically."""
    state = {
        "framework": framework,
        "epoch": history[-1].epoch,
        "best_epoch": stopper.best_epoch,
        "best_val_loss": stopper.best_val_loss,
        "wait": stopper.wait,
        "history": [m.to_json() for m in history],
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


def restore_progress(state: dict[str, Any] | None, patience: int) -> tuple[int, EarlyStopping, list[EpochMetrics]]:
    """(last finished epoch, early-stopping state, history) from a resume state (or a fresh start)."""
    if state is None:
        return 0, EarlyStopping(patience), []
    stopper = EarlyStopping(patience, state["best_epoch"], state["best_val_loss"], state["wait"])
    return state["epoch"], stopper, [EpochMetrics.from_json(m) for m in state["history"]]
