"""Dask worker preload for sweeps: ``dask worker tcp://host:8786 --nthreads 1 --preload flows.dask_preload``.

A worker otherwise imports TensorFlow, PyTorch and the sweep's tasks, and pays each framework's first-training
costs (``fmnist.train.trainers.warm_up``), during its first trials: seconds per worker and framework. A long-lived
worker pays them once, when it starts, and then takes any trial (``fmnist.experiments.sweep.framework_workers``).
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
