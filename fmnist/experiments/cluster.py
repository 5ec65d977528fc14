"""Where a run's trials train (`ClusterSpec`). The options are checked here, not in the CLI, because a deployment
sets the same flow parameter without it."""

from __future__ import annotations

import importlib
import inspect
import json
import os
from dataclasses import dataclass
from typing import Any

from fmnist.errors import FmnistError

MAX_WORKERS = 256
KWARGS_EXAMPLE = """--cluster-kwargs '{"n_workers": 2}'"""
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


@dataclass(frozen=True)
class ClusterSpec:
    """Where a run's trials train: the scheduler at ``dask_address``; else a cluster of ``cluster_class`` (an
    import path) built from ``cluster_kwargs`` alone; else a local cluster of ``workers`` processes. A cluster
    started for the run scales between the adaptive bounds, if any (an unset bound keeps Dask's default).
    Creating one checks the options against each other and imports ``cluster_class``; FmnistError names the option
    at fault and the fix."""

    workers: int | None = None
    dask_address: str | None = None
    cluster_class: str | None = None
    cluster_kwargs: dict[str, Any] | None = None
    adapt_min: int | None = None
    adapt_max: int | None = None

    def __post_init__(self) -> None:
        address, cluster_class, workers = self.dask_address, self.cluster_class, self.workers
        adapt_min, adapt_max = self.adapt_min, self.adapt_max
        if workers is not None and not 1 <= workers <= MAX_WORKERS:
            raise FmnistError(f"--workers {workers}: give a number of local workers from 1 to {MAX_WORKERS}")
        if cluster_class is not None and address:
            raise FmnistError(
                f"--cluster-class {cluster_class!r} and --dask-address {address!r}: the run either starts a cluster"
                " or joins a running one; give one of them"
            )
        if (adapt_min is not None or adapt_max is not None) and address:
            raise FmnistError(
                f"--adapt-min/--adapt-max with --dask-address {address!r}: a running cluster scales itself; drop"
                " the bounds, or start one for the run (leave out --dask-address)"
            )
        if self.cluster_kwargs is not None and cluster_class is None:
            raise FmnistError(
                "--cluster-kwargs without --cluster-class: they configure that class (for a local cluster of your"
                " own: --cluster-class distributed.LocalCluster)"
            )
        if workers is not None and cluster_class is not None:
            raise FmnistError(
                f"--workers {workers} with --cluster-class {cluster_class!r}: --workers sizes the default local"
                """ cluster; give the size in --cluster-kwargs (e.g. '{"n_workers": 4}') or --adapt-min/--adapt-max"""
            )
        if adapt_min is not None and adapt_min < 0:
            raise FmnistError(f"--adapt-min {adapt_min}: give a number of workers, 0 or more")
        if adapt_max is not None and adapt_max < 1:
            raise FmnistError(f"--adapt-max {adapt_max}: give a number of workers, 1 or more (with none no trial runs)")
        if adapt_min is not None and adapt_max is not None and adapt_min > adapt_max:
            raise FmnistError(f"--adapt-min {adapt_min} is above --adapt-max {adapt_max}; give min <= max")
        if "asynchronous" in (self.cluster_kwargs or {}):
            # prefect-dask drives the cluster and refuses this one itself, but only once the flow has started.
            raise FmnistError("--cluster-kwargs sets 'asynchronous', which the task runner sets; leave it out")
        if cluster_class is not None:
            import_cluster_class(cluster_class)

    @property
    def adapt_kwargs(self) -> dict[str, int]:
        """The arguments of ``cluster.adapt``; empty (a cluster of fixed size) without bounds."""
        bounds = {"minimum": self.adapt_min, "maximum": self.adapt_max}
        return {key: value for key, value in bounds.items() if value is not None}

    def describe(self) -> str:
        """A label for the parent run: the address, the class (never its kwargs, which may hold credentials) or
        ``local:N``, then the adaptive bounds if any."""
        if self.dask_address:
            return self.dask_address
        label = self.cluster_class or f"local:{self.workers or os.cpu_count()}"
        if self.adapt_kwargs:
            low = "0" if self.adapt_min is None else str(self.adapt_min)
            high = "inf" if self.adapt_max is None else str(self.adapt_max)
            label += f" adapt:{low}-{high}"
        return label


def parse_cluster_kwargs(text: str | None) -> dict[str, Any] | None:
    """``'{"n_workers": 2}'`` → ``{"n_workers": 2}``; None stays None."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FmnistError(
            f"--cluster-kwargs {text!r} is not JSON ({exc}); give a JSON object, e.g. {KWARGS_EXAMPLE}"
        ) from None
    if not isinstance(value, dict):
        kind = _JSON_TYPES.get(type(value), "value")
        raise FmnistError(f"--cluster-kwargs {text!r} is a JSON {kind}, not an object; give e.g. {KWARGS_EXAMPLE}")
    return value


def import_cluster_class(path: str) -> type:
    """The class at ``path`` (``package.module.Class``), imported as the task runner will import it."""
    module_name, _, name = path.rpartition(".")
    if not module_name or not name:
        raise FmnistError(
            f"--cluster-class {path!r}: give an import path module.Class, e.g. dask_jobqueue.SLURMCluster"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raised while importing
        # The module's own message can run to many lines (a traceback of its own); the CLI prints one.
        first = (str(exc).strip().splitlines() or [""])[0]
        raise FmnistError(
            f"--cluster-class {path!r}: cannot import {module_name} ({f'{type(exc).__name__}: {first}'.rstrip(': ')});"
            " install the package that provides it here and on the workers, or fix the path"
        ) from None
    found = getattr(module, name, None)
    if found is None:
        raise FmnistError(f"--cluster-class {path!r}: module {module_name} has no {name}; check the name")
    if not inspect.isclass(found):
        raise FmnistError(
            f"--cluster-class {path!r} is a {type(found).__name__}, not a class; give a Dask cluster class such as"
            " distributed.LocalCluster"
        )
    return found
