"""Which module trains which framework, imported on demand (TensorFlow and PyTorch take seconds to import)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Literal

from fmnist.errors import FmnistError

Framework = Literal["keras", "torch"]
FRAMEWORKS: tuple[Framework, ...] = ("keras", "torch")
# Each framework's trainer: a module with the same `fit` signature as the other.
_MODULES = {"keras": "fmnist.train.keras_fit", "torch": "fmnist.train.torch_loop"}


def trainer(framework: str) -> ModuleType:
    """The module (``keras_fit`` or ``torch_loop``) whose ``fit`` trains ``framework``."""
    if framework not in _MODULES:
        raise FmnistError(f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}")
    return importlib.import_module(_MODULES[framework])


def imported_frameworks() -> list[str]:
    """The frameworks whose trainer this process has already imported, with TensorFlow or PyTorch behind it
    (a Dask worker started with ``flows.dask_preload`` has all of them). Imports neither."""
    return [framework for framework, module in _MODULES.items() if module in sys.modules]
