"""The ``fmnist-sweep`` flow: ingest → split → one training per (framework, grid point, seed) on Dask → compare.

Only sequencing lives here. The trials run in a sub-flow whose task runner is built from the flow's own
parameters (a local Dask cluster of ``workers`` processes, one that ``cluster_class`` starts, or the cluster at
``dask_address``), so a deployment run and a direct call scale out the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from prefect import flow
from pydantic import Field

from flows.trials import parent_run, prepare_data, publish_splits, run_trials
from fmnist.data.ingest import default_source
from fmnist.experiments.cluster import cluster_spec
from fmnist.experiments.sweep import SCORED_SPLITS, plan_trials, sweep_summary
from fmnist.timing import Stopwatch
from fmnist.train.trial import TrialSetup
from tasks.sweep import evaluate_sweep_task
from tasks.tracking import finish_parent_run_task

FrameworkName = Literal["keras", "torch"]
PresetName = Literal["seed", "parity", "tuned"]


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
    label_smoothing: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=1)] | None = None,
    epochs: Annotated[list[Annotated[int, Field(ge=1, le=500)]], Field(min_length=1)] | None = None,
    workers: Annotated[int, Field(ge=1, le=256)] | None = None,
    dask_address: str | None = None,
    split_store: Literal["local", "mlflow"] | None = None,
    cluster_class: str | None = None,
    cluster_kwargs: dict[str, Any] | None = None,
    adapt_min: Annotated[int, Field(ge=0)] | None = None,
    adapt_max: Annotated[int, Field(ge=1)] | None = None,
    work_dir: str = "data",
    experiment: str | None = None,
) -> dict[str, Any]:
    """Train every framework × grid point × seed as nested MLflow runs on Dask; compare mean ± std over seeds.

    data_source: folder, Kaggle CSV or base URL; default: $FMNIST_DATA_SOURCE or the official download.
    seeds: trials per grid point (training seeds seed, seed+1, ...; the split always uses seed).
    lr, dropout, label_smoothing, epochs: the grid (each value list crossed with the others); unset: the preset's
        value (epochs: max_epochs, else the preset's).
    workers: processes of the local Dask cluster (default: one per CPU); ignored with dask_address.
    dask_address: scheduler of an existing Dask cluster (tcp://host:8786) whose workers can import this project.
    split_store: mlflow: publish the split to MLflow's artifact store and let each trial fetch it, so workers need
        only the servers, not this disk; local: trials read the flow's folder. Default: $FMNIST_SPLIT_STORE or local.
    cluster_class: import path of a Dask cluster class to start for the run instead (dask_jobqueue.SLURMCluster),
        built with cluster_kwargs alone; not with dask_address or workers.
    adapt_min, adapt_max: scale the started cluster (that class's or the local one) between these many workers.
    """
    data_source = data_source or default_source()
    root = Path(work_dir).absolute()
    cluster = cluster_spec(cluster_class, cluster_kwargs, adapt_min, adapt_max, address=dask_address, workers=workers)
    params = {"data_source": data_source or "official", "preset": preset, "frameworks": ",".join(frameworks),
              "max_epochs": max_epochs or "preset", "seed": seed, "seeds": seeds, "grid.lr": lr or "preset",
              "grid.dropout": dropout or "preset", "grid.label_smoothing": label_smoothing or "preset",
              "grid.max_epochs": epochs or "preset",
              "dask": dask_address or cluster.describe(workers or os.cpu_count())}  # fmt: skip
    grid = {"lr": lr, "dropout": dropout, "label_smoothing": label_smoothing, "max_epochs": epochs}
    trials = plan_trials(frameworks, range(seed, seed + seeds), grid)
    clock = Stopwatch()
    with parent_run(params, experiment) as (uri, parent):
        clock.lap("start_tracking")
        split_dir = prepare_data(data_source, root, seed)
        clock.lap("data")
        published = publish_splits([split_dir], split_store, uri, experiment)
        checkpoints = None if published else root / "checkpoints"
        setup = TrialSetup(split_dir, preset, parent, checkpoints, uri, experiment, max_epochs, SCORED_SPLITS,
                           published=published)  # fmt: skip
        results = run_trials(trials, setup, workers, dask_address, cluster=cluster)
        clock.lap("trials")
        evaluation = evaluate_sweep_task(uri, experiment, parent, results)
        clock.lap("evaluate")
        finish_parent_run_task(uri, parent)
        clock.lap("finish_tracking")
    return sweep_summary(parent, uri, results, evaluation, clock.as_dict())
