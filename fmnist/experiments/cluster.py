"""Where a sweep's trials run: the default local Dask cluster, or one that a Dask cluster class starts for the sweep.

A :class:`ClusterSpec` names the class by import path (``dask_jobqueue.SLURMCluster``), the keyword arguments it
is built with and, optionally, the bounds its workers scale between (``cluster.adapt``). :func:`cluster_spec`
checks all of it before anything starts, so a typo costs one line, not a failed flow run; the flows hand the
result to prefect-dask's task runner. The options are checked here, not in the CLI, because a deployment sets the
same flow parameters without it.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fmnist.errors import FmnistError

KWARGS_EXAMPLE = """--cluster-kwargs '{"n_workers": 2}'"""
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


@dataclass(frozen=True)
class ClusterSpec:
    """A Dask cluster to start for one sweep. No ``cluster_class``: the default local cluster (its size is the
    sweep's ``workers``); the adaptive bounds apply to either."""

    cluster_class: str | None = None
    cluster_kwargs: Mapping[str, Any] = field(default_factory=dict)
    adapt_min: int | None = None
    adapt_max: int | None = None

    @property
    def adapt_kwargs(self) -> dict[str, int]:
        """The arguments of ``cluster.adapt``; empty (a cluster of fixed size) without bounds. An unset bound
        keeps Dask's default (no minimum, no maximum)."""
        bounds = {"minimum": self.adapt_min, "maximum": self.adapt_max}
        return {key: value for key, value in bounds.items() if value is not None}

    def describe(self, workers: int | None) -> str:
        """A short label for the parent run: the class (never its kwargs, which may hold credentials) or
        ``local:N``, then the adaptive bounds if any."""
        label = self.cluster_class or f"local:{workers}"
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
        raise FmnistError(
            f"--cluster-kwargs {text!r} is a JSON {_JSON_TYPES.get(type(value), 'value')}, not an object; give e.g."
            f" {KWARGS_EXAMPLE}"
        )
    return value


def cluster_spec(
    cluster_class: str | None = None,
    cluster_kwargs: Mapping[str, Any] | None = None,
    adapt_min: int | None = None,
    adapt_max: int | None = None,
    *,
    address: str | None = None,
    workers: int | None = None,
) -> ClusterSpec:
    """Check the cluster options against each other and against ``address`` (an existing cluster to join) and
    ``workers`` (the default local cluster's size); import ``cluster_class`` to check it names a class.

    Adaptive bounds without a class scale the default local cluster (``workers`` is then its starting size).
    Raises :class:`FmnistError` naming the option at fault and the fix.
    """
    if cluster_class is not None and address:
        raise FmnistError(
            f"--cluster-class {cluster_class!r} and --dask-address {address!r}: the run either starts a cluster or"
            " joins a running one; give one of them"
        )
    bounded = adapt_min is not None or adapt_max is not None
    if bounded and address:
        raise FmnistError(
            f"--adapt-min/--adapt-max with --dask-address {address!r}: a running cluster scales itself; drop the"
            " bounds, or start one for the run (leave out --dask-address)"
        )
    if cluster_kwargs is not None and cluster_class is None:
        raise FmnistError(
            "--cluster-kwargs without --cluster-class: they configure that class (for a local cluster of your own:"
            " --cluster-class distributed.LocalCluster)"
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
    kwargs = dict(cluster_kwargs or {})
    if "asynchronous" in kwargs:
        # prefect-dask drives the cluster and refuses this one itself, but only once the flow has started.
        raise FmnistError("--cluster-kwargs sets 'asynchronous', which the task runner sets; leave it out")
    if cluster_class is not None:
        import_cluster_class(cluster_class)
    return ClusterSpec(cluster_class, kwargs, adapt_min, adapt_max)


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
        raise FmnistError(
            f"--cluster-class {path!r}: cannot import {module_name} ({_first_line(exc)}); install the package"
            " that provides it here and on the workers, or fix the path"
        ) from None
    try:
        found = getattr(module, name)
    except AttributeError:
        raise FmnistError(f"--cluster-class {path!r}: module {module_name} has no {name}; check the name") from None
    if not inspect.isclass(found):
        raise FmnistError(
            f"--cluster-class {path!r} is a {type(found).__name__}, not a class; give a Dask cluster class such as"
            " distributed.LocalCluster"
        )
    return found


def _first_line(exc: BaseException) -> str:
    # An import can fail with a message of many lines (a traceback of the module's own); the CLI prints one.
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
