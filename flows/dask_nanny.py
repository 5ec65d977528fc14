"""Dask nanny preload for sweep workers: ``dask worker tcp://host:8786 --preload-nanny flows.dask_nanny``.

It runs in the nanny before the nanny starts its worker process, and sets the worker up for long single-threaded
trainings:

- Dask's nanny starts each worker process with ``MALLOC_TRIM_THRESHOLD_=65536``. Setting that variable also
  turns off glibc's adaptive mmap threshold, so every PyTorch batch buffer over 128 KiB is mapped and unmapped
  anew and a PyTorch epoch takes about 30% longer (1.47 s instead of 1.14 s on a 2-core machine). The preload
  drops the variable from what the nanny sets, so the worker keeps glibc's defaults. A value exported in the
  nanny's own environment still reaches the worker, as any variable does.
- Dask's worker and nanny wake up many times a second for the dashboard: the worker samples the stack of the
  running task every 10 ms (its profiler), both check their event loop every 20 ms, their memory every 100 ms
  and the system's counters every 500 ms. Each wake-up takes Python's GIL from the training thread, and when
  every core trains, its CPU time too: with 2 workers training on 2 cores, PyTorch epochs took 1.30 s instead
  of 1.18 s. :data:`QUIET_CONFIG` turns the profiler off and slows the checks down (still well inside what they
  guard: the memory limit, an event loop blocked for seconds), for the worker and for the nanny itself.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

import dask.config
from dask.utils import parse_timedelta

MALLOC_VARIABLE = "MALLOC_TRIM_THRESHOLD_"
# Dask settings for processes that host trainings (dashboard figures refresh less often; nothing else changes).
QUIET_CONFIG = MappingProxyType({
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
})  # fmt: skip
# The nanny's own periodic callbacks (created before preloads run, started after) and the setting of each.
_NANNY_CALLBACKS = {
    "tick": "distributed.admin.tick.interval",
    "memory_monitor": "distributed.worker.memory.monitor-interval",
    "monitor": "distributed.admin.system-monitor.interval",
}


def dask_setup(nanny: Any) -> None:
    """Called by Dask when the nanny starts, before it spawns its worker."""
    nanny.pre_spawn_env.pop(MALLOC_VARIABLE, None)
    nanny.env.pop(MALLOC_VARIABLE, None)
    # The nanny hands its config to the worker process it spawns. That config shares its nested sections with
    # this process's Dask config, so the settings go into a deep copy.
    config = copy.deepcopy(nanny.config)
    dask.config.set(QUIET_CONFIG, config=config)
    nanny.config = config
    for name, key in _NANNY_CALLBACKS.items():
        if name in nanny.periodic_callbacks:
            nanny.periodic_callbacks[name].callback_time = parse_timedelta(QUIET_CONFIG[key]) * 1000
