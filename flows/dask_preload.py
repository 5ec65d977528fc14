"""Dask worker preload for sweeps: ``dask worker tcp://host:8786 --nthreads 1 --preload flows.dask_preload``.

A worker otherwise imports TensorFlow, PyTorch (with the compiler front end that ``torch.optim`` loads on first
use) and the sweep's tasks during its first trials: seconds for each worker and each framework, inside every
sweep that starts its own cluster. A long-lived worker started with this preload pays that once, when it
starts, and every sweep sent to it (``fmnist sweep --dask-address``) starts training at once.

It also trains each framework once on a few random images, since a process's first training pays one-time
costs too (about a second per framework; see ``fmnist.train.trainers.warm_up``). As every such worker is ready
for either framework, a sweep sends each trial to whichever worker is free
(``fmnist.experiments.sweep.framework_workers``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)


def dask_setup(worker: Any) -> None:
    """Called by Dask when the worker starts: import what a trial needs and train each framework once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tasks.train  # noqa: F401
    from fmnist.train.trainers import FRAMEWORKS, warm_up

    for framework in FRAMEWORKS:
        logger.info("warmed up %s in %.1f s", framework, warm_up(framework))
