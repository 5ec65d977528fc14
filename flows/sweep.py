"""The ``fmnist-sweep`` flow: ingest → split → one training per (framework, grid point, seed) on Dask → compare.
Sequencing only; the trials' sub-flow builds its task runner from the ``cluster`` parameter, so a deployment run and a
direct call scale out the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from prefect import flow
from pydantic import Field

from flows.trials import parent_run, prepare_data, run_trials, trial_setup
from fmnist.config import Framework, PresetName
from fmnist.data.ingest import default_source
from fmnist.experiments.cluster import ClusterSpec
from fmnist.experiments.sweep import SCORED_SPLITS, plan_trials, run_summary
from fmnist.timing import Stopwatch
from tasks.evaluate import evaluate_sweep_task
from tasks.tracking import finish_parent_run_task


@flow(name="fmnist-sweep", log_prints=True)
def fmnist_sweep(
    data_source: str | None = None,
    preset: PresetName = "seed",
    frameworks: Annotated[list[Framework], Field(min_length=1)] = ["keras", "torch"],  # noqa: B006
    max_epochs: Annotated[int, Field(ge=1, le=500)] | None = None,
    seed: Annotated[int, Field(ge=0)] = 42,
    seeds: Annotated[int, Field(ge=1, le=20)] = 3,
    lr: Annotated[list[Annotated[float, Field(gt=0, le=1)]], Field(min_length=1)] | None = None,
    dropout: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=1)] | None = None,
    label_smoothing: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=1)] | None = None,
    epochs: Annotated[list[Annotated[int, Field(ge=1, le=500)]], Field(min_length=1)] | None = None,
    cluster: ClusterSpec | None = None,
    split_store: Literal["local", "mlflow"] | None = None,
    work_dir: str = "data",
    experiment: str | None = None,
) -> dict[str, Any]:
    """Train every framework × grid point × seed as nested MLflow runs on Dask; compare mean ± std over seeds.

    data_source: folder, Kaggle CSV or base URL; default: $FMNIST_DATA_SOURCE or the official download.
    seeds: trials per grid point (training seeds seed, seed+1, ...; the split always uses seed).
    lr, dropout, label_smoothing, epochs: the grid (each value list crossed with the others); unset: the preset's
        value (epochs: max_epochs, else the preset's).
    cluster, split_store: where the trials run (default: a local cluster) and how they get the split
        (docs/operations.md).
    """
    data_source = data_source or default_source()
    root = Path(work_dir).absolute()
    cluster = cluster or ClusterSpec()
    params = {"data_source": data_source or "official", "preset": preset, "frameworks": ",".join(frameworks),
              "max_epochs": max_epochs or "preset", "seed": seed, "seeds": seeds, "grid.lr": lr or "preset",
              "grid.dropout": dropout or "preset", "grid.label_smoothing": label_smoothing or "preset",
              "grid.max_epochs": epochs or "preset", "dask": cluster.describe()}  # fmt: skip
    grid = {"lr": lr, "dropout": dropout, "label_smoothing": label_smoothing, "max_epochs": epochs}
    trials = plan_trials(frameworks, range(seed, seed + seeds), grid)
    clock = Stopwatch()
    with parent_run(params, experiment) as (uri, parent):
        clock.lap("start_tracking")
        split_dir = prepare_data(data_source, root, seed)
        clock.lap("data")
        setup = trial_setup(
            root, (uri, parent), experiment, {seed: split_dir}, preset, max_epochs, split_store, SCORED_SPLITS
        )
        results = run_trials(trials, setup, cluster)
        clock.lap("trials")
        evaluation = evaluate_sweep_task(uri, experiment, parent, results)
        clock.lap("evaluate")
        finish_parent_run_task(uri, parent)
        clock.lap("finish_tracking")
    return run_summary(parent, uri, results, clock.as_dict(), **evaluation.summary())
