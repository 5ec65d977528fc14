"""The ``fmnist-ablation`` flow: ingest → split(s) → every arm × seed on Dask → effects of the framework defaults.
Sequencing only; a trial that fails twice is reported as missing, not dropped (docs/ablation.md, "Design")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from prefect import flow
from pydantic import Field

from flows.trials import parent_run, prepare_data, run_trials, trial_setup
from fmnist.data.ingest import default_source
from fmnist.experiments.ablation import plan_ablation
from fmnist.experiments.cluster import ClusterSpec
from fmnist.experiments.factors import DEFAULT_MARGIN, select_factors
from fmnist.experiments.sweep import SCORED_SPLITS, run_summary
from fmnist.timing import Stopwatch
from tasks.evaluate import evaluate_ablation_task
from tasks.report import report_task
from tasks.tracking import finish_parent_run_task


@flow(name="fmnist-ablation", log_prints=True)
def fmnist_ablation(
    data_source: str | None = None,
    factors: list[str] | None = None,
    max_epochs: Annotated[int, Field(ge=1, le=500)] | None = None,
    seed: Annotated[int, Field(ge=0)] = 42,
    seeds: Annotated[int, Field(ge=2, le=20)] = 5,
    split_seeds: Annotated[int, Field(ge=1, le=10)] = 1,
    margin: Annotated[float, Field(gt=0, le=100)] = DEFAULT_MARGIN,
    cluster: ClusterSpec | None = None,
    split_store: Literal["local", "mlflow"] | None = None,
    work_dir: str = "data",
    experiment: str | None = None,
) -> dict[str, Any]:
    """Train each framework on its own defaults, with each factor switched to the other framework's level, and
    with all switched, ``seeds`` times each; estimate each factor's effect on official-test accuracy.

    data_source: folder, Kaggle CSV or base URL; default: $FMNIST_DATA_SOURCE or the official download.
    factors: the factors to switch (default: all of them).
    seeds: trials per arm and split (training seeds seed, seed+1, ...).
    split_seeds: splits to repeat the arms on (split seeds seed, seed+1, ...; 1: the split of seed).
    margin: accuracy points within which an effect counts as none (TOST equivalence).
    cluster, split_store: where the trials run (default: a local cluster) and how they get the split
        (docs/operations.md).
    """
    data_source = data_source or default_source()
    root = Path(work_dir).absolute()
    cluster = cluster or ClusterSpec()
    chosen = select_factors(factors)
    split_seed_list = list(range(seed, seed + split_seeds))
    trials = plan_ablation(chosen, range(seed, seed + seeds), split_seed_list)
    params = {"data_source": data_source or "official", "preset": "seed", "factors": ",".join(f.name for f in chosen),
              "max_epochs": max_epochs or "preset", "seed": seed, "seeds": seeds, "split_seeds": split_seeds,
              "margin_pt": margin, "trials": len(trials), "dask": cluster.describe()}  # fmt: skip
    clock = Stopwatch()
    with parent_run(params, experiment) as (uri, parent):
        clock.lap("start_tracking")
        split_dirs = {s: prepare_data(data_source, root, s) for s in split_seed_list}
        clock.lap("data")
        setup = trial_setup(root, (uri, parent), experiment, split_dirs, "seed", max_epochs, split_store, SCORED_SPLITS)
        results = run_trials(trials, setup, cluster, missing_ok=True)
        clock.lap("trials")
        names = [f.name for f in chosen]
        evaluation = evaluate_ablation_task(uri, experiment, parent, trials, results, names, margin)
        clock.lap("evaluate")
        finish_parent_run_task(uri, parent, "FINISHED", clock.as_dict())
        report = report_task(uri, experiment, parent, root / "reports" / parent)
        clock.lap("report")
    return run_summary(parent, uri, results, clock.as_dict(), **evaluation.summary(), report=str(report))
