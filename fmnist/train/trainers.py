"""Which backend trains which framework, imported on demand (TensorFlow and PyTorch take seconds to import)."""

from __future__ import annotations

import importlib
import sys
import time
from typing import Literal

import numpy as np

from fmnist.config import ModelConfig, TrainConfig
from fmnist.errors import FmnistError
from fmnist.train.loop import Backend
from fmnist.train.types import TrainData

Framework = Literal["keras", "torch"]
FRAMEWORKS: tuple[Framework, ...] = ("keras", "torch")
# Each framework's backend: (module, class), a subclass of `fmnist.train.loop.Backend`.
_BACKENDS = {
    "keras": ("fmnist.train.keras_backend", "KerasBackend"),
    "torch": ("fmnist.train.torch_backend", "TorchBackend"),
}


def trainer(framework: str) -> type[Backend]:
    """The backend class whose ``fit``, ``load_checkpoint`` and ``predict_proba`` serve ``framework``."""
    if framework not in _BACKENDS:
        raise FmnistError(f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}")
    module, name = _BACKENDS[framework]
    return getattr(importlib.import_module(module), name)


def imported_frameworks() -> list[str]:
    """The frameworks whose trainer this process has already imported, with TensorFlow or PyTorch behind it
    (a Dask worker started with ``flows.dask_preload`` has all of them). Imports neither."""
    return [framework for framework, (module, _) in _BACKENDS.items() if module in sys.modules]


def warm_up(framework: str) -> float:
    """Train a throw-away model for one epoch on 128 random images; returns the seconds it took.

    A process's first training pays one-time costs on top of the framework's import: about 0.8 s for Keras
    (TensorFlow's first graphs) and 1.2 s for PyTorch (its optimizer's compiler front end) on a 2-core machine.
    A long-lived worker pays them here, when it starts, instead of in its first trial. Every training seeds
    itself, so what runs later is unchanged.
    """
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (192, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, 192).astype(np.uint8)
    data = TrainData(x_train=images[:128], y_train=labels[:128], x_val=images[128:], y_val=labels[128:])
    started = time.perf_counter()
    trainer(framework).fit(data, ModelConfig(), TrainConfig(max_epochs=1))
    return time.perf_counter() - started
