"""Which backend trains which framework, imported on demand (TensorFlow and PyTorch take seconds to import)."""

from __future__ import annotations

import importlib
import sys
import time

import numpy as np

from fmnist.config import FRAMEWORKS, ModelConfig, TrainConfig
from fmnist.errors import FmnistError
from fmnist.train.loop import Backend, TrainData

_BACKENDS = {
    "keras": ("fmnist.train.keras_backend", "KerasBackend"),
    "torch": ("fmnist.train.torch_backend", "TorchBackend"),
}


def trainer(framework: str) -> type[Backend]:
    """The backend class that trains, loads and predicts for ``framework``."""
    if framework not in _BACKENDS:
        raise FmnistError(f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}")
    module, name = _BACKENDS[framework]
    return getattr(importlib.import_module(module), name)


def imported_frameworks() -> list[str]:
    """The frameworks whose backend this process has imported already (all, after ``flows.dask_preload``); imports
    neither, so a Dask worker can be asked cheaply."""
    return [framework for framework, (module, _) in _BACKENDS.items() if module in sys.modules]


def warm_up(framework: str) -> float:
    """Train a throw-away model for one epoch on 128 random images; returns the seconds it took. A process's first
    training pays one-time costs (TensorFlow's first graphs, the compiler front end of PyTorch's optimizer): a
    long-lived worker pays them here, not in its first trial. Every training seeds itself, so later ones are unchanged.
    """
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (192, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, 192).astype(np.uint8)
    data = TrainData(x_train=images[:128], y_train=labels[:128], x_val=images[128:], y_val=labels[128:])
    started = time.perf_counter()
    trainer(framework).fit(data, ModelConfig(), TrainConfig(max_epochs=1))
    return time.perf_counter() - started
