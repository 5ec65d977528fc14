"""The stages every flow that trains shares: the MLflow parent run, the data (ingest → split → published for workers
that cannot read this disk) and the trials on Dask, each in a worker process of its own (TensorFlow and PyTorch do
not share a process well, and a training on one thread should own one core).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import MappingProxyType

import dask
from prefect import flow, get_client
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_dask import DaskTaskRunner

from fmnist.data.batch_store import BATCHES_DIR
from fmnist.data.prepare import splits_ready
from fmnist.experiments.cluster import ClusterSpec
from fmnist.experiments.sweep import framework_workers
from fmnist.redaction import redact
from fmnist.tracking.split_store import default_store
from fmnist.train.tracked import TrainSummary
from fmnist.train.trainers import imported_frameworks
from fmnist.train.trial import Trial, TrialSetup
from tasks.ingest import ingest_task
from tasks.split import publish_split_task, split_task
from tasks.tracking import finish_parent_run_task, start_parent_run_task
from tasks.train import train_trial_task

# Dask settings for the processes of a cluster started here, which host trainings: glibc's malloc thresholds kept,
# no profiler, slower periodic checks (why, and for a cluster of your own: docs/design.md, "Sweeps on Dask").
TRAINING_DASK_CONFIG = MappingProxyType({
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
})  # fmt: skip


@contextmanager
def parent_run(params: Mapping[str, object], experiment: str | None) -> Iterator[tuple[str, str]]:
    """Open the flow's MLflow parent run with ``params``; yield (tracking URI, run id). If anything inside raises,
    the run is closed as failed, so the UI never shows a run "running" forever."""
    uri, run_id = start_parent_run_task(dict(params), experiment)
    try:
        yield uri, run_id
    except BaseException:
        finish_parent_run_task(uri, run_id, "FAILED")
        raise


def prepare_data(data_source: str | None, root: Path, seed: int, refresh: bool = False) -> Path:
    """Ingest ``data_source`` and split it with ``seed``, with the labelled batches accepted under ``root``; return
    the split folder. Both steps are cached: a rerun on unchanged data skips them unless ``refresh``."""
    source = ingest_task.with_options(refresh_cache=refresh)(data_source, root / "raw")
    split_dir, batches_root = root / "splits" / f"seed-{seed}", root / BATCHES_DIR
    fresh = refresh or not splits_ready(source, split_dir, seed, batches_root)
    return split_task.with_options(refresh_cache=fresh)(source, split_dir, seed, batches_root).parent


def trial_setup(
    root: Path,
    parent: tuple[str, str],
    experiment: str | None,
    split_dirs: Mapping[int, Path],
    preset: str,
    max_epochs: int | None,
    split_store: str | None = None,
    score_splits: tuple[str, ...] | None = None,
) -> TrialSetup:
    """What the trials of the parent run ``parent`` (tracking URI, run id) share; the first of ``split_dirs`` (split
    seed → folder) is the default split. With ``split_store="mlflow"`` (default ``$FMNIST_SPLIT_STORE``, else
    ``local``) each split is published to the artifact store and the trials fetch it and keep their checkpoints in
    their worker's cache: they need nothing from this disk."""
    uri, run_id = parent
    published = {}
    if (split_store or default_store()) == "mlflow":
        published = {path: publish_split_task(uri, experiment, path) for path in dict.fromkeys(split_dirs.values())}
    return TrialSetup(
        split_dir=next(iter(split_dirs.values())),
        preset=preset,
        parent_run_id=run_id,
        checkpoint_root=None if published else root / "checkpoints",
        tracking_uri=uri,
        experiment=experiment,
        max_epochs=max_epochs,
        score_splits=score_splits,
        split_dirs=dict(split_dirs),
        published=published,
    )


def dask_task_runner(cluster: ClusterSpec, n_trials: int | None = None) -> DaskTaskRunner:
    """A task runner on ``cluster``. A local cluster has one process per CPU unless ``cluster.workers`` says
    otherwise (but no more than ``n_trials``), of one thread each, since every trial trains on one thread, and its
    dashboard on a free loopback port (Dask's default is port 8787 on every interface)."""
    if cluster.dask_address:
        return DaskTaskRunner(address=cluster.dask_address)
    if cluster.cluster_class:
        return DaskTaskRunner(
            cluster_class=cluster.cluster_class,
            cluster_kwargs=dict(cluster.cluster_kwargs or {}),
            adapt_kwargs=cluster.adapt_kwargs,
        )
    n_workers = cluster.workers or min(n_trials or os.cpu_count() or 1, os.cpu_count() or 1)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "processes": True,
                        "dashboard_address": "127.0.0.1:0"},
        adapt_kwargs=cluster.adapt_kwargs,
    )  # fmt: skip


@contextmanager
def api_for_workers() -> Iterator[None]:
    """Let task runs in other processes report to this flow's Prefect API: an ephemeral API's address is known only
    here (a Dask worker would start its own), and task runners ship the current settings to their workers."""
    if PREFECT_API_URL.value():
        yield
        return
    with get_client(sync_client=True) as client:
        url = str(client.api_url)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield


def run_trials(
    trials: Sequence[Trial],
    setup: TrialSetup,
    cluster: ClusterSpec | None = None,
    *,
    retries: int = 1,
    missing_ok: bool = False,
) -> list[TrainSummary]:
    """Train and score every trial on ``cluster`` (default: a local cluster of one process per CPU, at most one per
    trial). A failed trial is retried ``retries`` times, resuming from its checkpoint in the same MLflow run; one that
    still fails fails the flow, or with ``missing_ok`` is left out of the results, which the caller must report."""
    cluster = cluster or ClusterSpec()
    runner = dask_task_runner(cluster, len(trials))
    # The sub-flow runs in this process, which this flow's heartbeat shows alive already; a heartbeat thread of its
    # own would only delay its end (Prefect stops that thread in 1 s steps).
    settings = temporary_settings(updates={"flows.heartbeat_frequency": None})
    started_here = not (cluster.dask_address or cluster.cluster_class)  # a cluster of your own keeps its settings
    training = dask.config.set(dict(TRAINING_DASK_CONFIG)) if started_here else nullcontext()
    with api_for_workers(), settings, training:
        return train_trials.with_options(task_runner=runner)(list(trials), setup, retries, missing_ok)


@flow(name="fmnist-trials", log_prints=True)
def train_trials(
    trials: list[Trial], setup: TrialSetup, retries: int = 1, missing_ok: bool = False
) -> list[TrainSummary]:
    """Submit every trial to this flow's task runner and wait for all.

    Each framework's trials loosely prefer workers of their own (:func:`framework_workers`): an idle worker still
    steals a queued trial, and a lost worker's trials run elsewhere.
    """
    prefer = framework_workers(trials, dask_workers())
    if prefer:
        print(f"trials prefer workers: {prefer}")
    task = train_trial_task.with_options(retries=retries)
    futures = []
    for t in trials:
        where = dask.annotate(workers=prefer[t.framework], allow_other_workers=True) if prefer else nullcontext()
        with where:
            futures.append(task.submit(trial=t, setup=setup))
    results = []
    for t, f in zip(trials, futures, strict=True):
        try:
            results.append(f.result())
        except Exception as exc:  # the task failed, or the worker running it was lost
            if not missing_ok:
                raise
            print(redact(f"trial {t.name} failed, left out: {type(exc).__name__}: {exc}"))
    return results


def dask_workers() -> dict[str, list[str]]:
    """The workers of the running flow's Dask task runner, by address (sorted), each with the frameworks it has
    imported; none for another runner, or for an adaptive cluster, whose workers come and go."""
    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    if not isinstance(runner, DaskTaskRunner) or runner.adapt_kwargs:
        return {}
    return dict(sorted(runner.client.run(imported_frameworks).items()))
