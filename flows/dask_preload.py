"""Dask worker preload for sweeps: ``dask worker tcp://host:8786 --nthreads 1 --preload flows.dask_preload``.

A worker otherwise imports TensorFlow, PyTorch (with the compiler front end that ``torch.optim`` loads on first
use) and the sweep's tasks during its first trials: seconds for each worker and each framework, inside every
sweep that starts its own cluster. A long-lived worker started with this preload pays that once, when it
starts, and every sweep sent to it (``fmnist sweep --dask-address``) starts training at once. Since every
such worker is ready for either framework, a sweep then sends each trial to whichever worker is free (see
``fmnist.sweep.framework_workers``).
"""

from __future__ import annotations

import os
from typing import Any


def dask_setup(worker: Any) -> None:
    """Called by Dask when the worker starts: import what a trial needs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import torch._dynamo  # noqa: F401

    # The trainers, with TensorFlow and Keras, and PyTorch behind them.
    import fmnist.train.keras_fit
    import fmnist.train.torch_loop  # noqa: F401
    import tasks.sweep  # noqa: F401
