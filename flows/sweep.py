"""The ``fmnist-sweep`` flow: ingest → split → one training per (framework, grid point, seed) on Dask → compare.

Only sequencing lives here. The trials run in a sub-flow whose task runner is built from the flow's own
parameters (a local Dask cluster of ``workers`` processes, or the cluster at ``dask_address``), so a deployment
run and a direct call scale out the same way.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any, Literal

import dask
from prefect import flow
from prefect.context import FlowRunContext
from prefect.settings import temporary_settings
from prefect_dask import DaskTaskRunner
from pydantic import Field

from fmnist.data.prepare import splits_ready
from fmnist.experiments.sweep import Trial, TrialResult, framework_workers, plan_trials, sweep_summary
from fmnist.timing import Stopwatch
from fmnist.train.trainers import imported_frameworks
from tasks.ingest import ingest_task
from tasks.split import split_task
from tasks.sweep import evaluate_sweep_task, train_trial_task
from tasks.tracking import finish_parent_run_task, start_parent_run_task

FrameworkName = Literal["keras", "torch"]
PresetName = Literal["seed", "parity", "tuned"]


def dask_task_runner(workers: int | None = None, address: str | None = None) -> DaskTaskRunner:
    """The cluster at ``address``, else a local one: ``workers`` processes (default: one per CPU), one thread
    each, since every trial trains on one thread; started through :mod:`flows.dask_nanny` (PyTorch trains
    faster); its dashboard on a free loopback port (Dask's default is port 8787 on every interface)."""
    if address:
        return DaskTaskRunner(address=address)
    n_workers = workers or os.cpu_count() or 1
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "processes": True,
                        "dashboard_address": "127.0.0.1:0", "preload_nanny": ["flows.dask_nanny"]},
    )  # fmt: skip


@flow(name="fmnist-sweep-trials", log_prints=True)
def train_trials(
    trials: list[Trial],
    split_dir: Path,
    preset: str,
    parent_run_id: str,
    checkpoint_root: Path,
    tracking_uri: str,
    experiment: str | None = None,
    max_epochs: int | None = None,
) -> list[TrialResult]:
    """Submit every trial to this flow's task runner (the sweep gives it a Dask one) and wait for all.

    On Dask, unless every worker has imported every framework already, each framework's trials prefer their own
    workers (:func:`framework_workers`): a loose preference, so an idle worker still steals a queued trial and a
    lost worker's trials run elsewhere.
    """
    workers = dask_workers()
    prefer = framework_workers(trials, workers)
    if prefer:
        print(f"trials prefer workers: {prefer}")
    elif workers:
        print(f"every worker has imported {', '.join(sorted({t.framework for t in trials}))}: each trial goes to "
              f"whichever of the {len(workers)} workers is free")  # fmt: skip
    futures = []
    for t in trials:
        where = dask.annotate(workers=prefer[t.framework], allow_other_workers=True) if prefer else nullcontext()
        with where:
            futures.append(train_trial_task.submit(
                trial=t, split_dir=split_dir, preset=preset, parent_run_id=parent_run_id,
                checkpoint_root=checkpoint_root, tracking_uri=tracking_uri, experiment=experiment,
                max_epochs=max_epochs,
            ))  # fmt: skip
    return [f.result() for f in futures]


def dask_workers() -> dict[str, list[str]]:
    """The workers of the running flow's Dask task runner, by address (sorted), each with the frameworks it has
    imported; none for another runner."""
    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    if not isinstance(runner, DaskTaskRunner):
        return {}
    return dict(sorted(runner.client.run(imported_frameworks).items()))


@flow(name="fmnist-sweep", log_prints=True)
def fmnist_sweep(
    data_source: str | None = None,
    preset: PresetName = "seed",
    frameworks: Annotated[list[FrameworkName], Field(min_length=1)] = ["keras", "torch"],  # noqa: B006
    max_epochs: Annotated[int, Field(ge=1, le=500)] | None = None,
    seed: Annotated[int, Field(ge=0)] = 42,
    seeds: Annotated[int, Field(ge=1, le=20)] = 3,
    lr: Annotated[list[Annotated[float, Field(gt=0, le=1)]], Field(min_length=1)] | None = None,
    dropout: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=1)] | None = None,
    workers: Annotated[int, Field(ge=1, le=256)] | None = None,
    dask_address: str | None = None,
    work_dir: str = "data",
    experiment: str | None = None,
) -> dict[str, Any]:
    """Train every framework × grid point × seed as nested MLflow runs on Dask; compare mean ± std over seeds.

    data_source: folder, Kaggle CSV or base URL; default: $FMNIST_DATA_SOURCE or the official download.
    seeds: trials per grid point (training seeds seed, seed+1, ...; the split always uses seed).
    lr, dropout: the grid (each value list crossed with the other); unset: the preset's value.
    workers: processes of the local Dask cluster (default: one per CPU); ignored with dask_address.
    dask_address: scheduler of an existing Dask cluster (tcp://host:8786) whose workers can import this project.
    """
    data_source = data_source or os.environ.get("FMNIST_DATA_SOURCE") or None
    root = Path(work_dir).absolute()
    params = {"data_source": data_source or "official", "preset": preset, "frameworks": ",".join(frameworks),
              "max_epochs": max_epochs or "preset", "seed": seed, "seeds": seeds, "grid.lr": lr or "preset",
              "grid.dropout": dropout or "preset",
              "dask": dask_address or f"local:{workers or os.cpu_count()}"}  # fmt: skip
    trials = plan_trials(frameworks, range(seed, seed + seeds), {"lr": lr, "dropout": dropout})
    clock = Stopwatch()
    uri, parent = start_parent_run_task(params, experiment)
    clock.lap("start_tracking")
    try:
        source = ingest_task(data_source, root / "raw")
        clock.lap("ingest")
        split_dir = root / "splits" / f"seed-{seed}"
        manifest = split_task.with_options(refresh_cache=not splits_ready(source, split_dir, seed))(
            source, split_dir, seed
        )
        split_dir = manifest.parent
        clock.lap("split")
        # The sub-flow runs in this process, which this flow's heartbeat already shows alive; a heartbeat thread
        # of its own would only hold up its end, by up to a second (Prefect stops that thread in 1 s steps).
        with temporary_settings(updates={"flows.heartbeat_frequency": None}):
            results = train_trials.with_options(task_runner=dask_task_runner(workers, dask_address))(
                trials, split_dir, preset, parent, root / "checkpoints", uri, experiment, max_epochs
            )
        clock.lap("trials")
        evaluation = evaluate_sweep_task(uri, experiment, parent, results)
        clock.lap("evaluate")
        finish_parent_run_task(uri, parent)
        clock.lap("finish_tracking")
    except BaseException:
        # Close the MLflow run as failed so the UI never shows a run "running" forever.
        finish_parent_run_task(uri, parent, "FAILED")
        raise
    return sweep_summary(parent, uri, results, evaluation, clock.as_dict())
