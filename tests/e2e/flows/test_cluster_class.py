"""The sweep on a Dask cluster that a cluster class starts for it (``--cluster-class``), on Prefect's test harness,
tiny generated data and a local MLflow store; and the task runner each set of cluster options builds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.eventually import eventually
from tests.factories import write_csv_pair

pytestmark = pytest.mark.slow

ONE_WORKER = {"n_workers": 1, "threads_per_worker": 1, "processes": True, "dashboard_address": "127.0.0.1:0"}


def test_the_runner_starts_the_named_class_with_its_kwargs_and_bounds() -> None:
    from flows.trials import dask_task_runner
    from fmnist.experiments.cluster import ClusterSpec

    spec = ClusterSpec(cluster_class="distributed.LocalCluster", cluster_kwargs=ONE_WORKER, adapt_min=1, adapt_max=3)
    runner = dask_task_runner(spec)
    assert runner.cluster_class == "distributed.LocalCluster"
    assert runner.cluster_kwargs == ONE_WORKER  # the class's kwargs alone: nothing of the default local cluster
    assert runner.adapt_kwargs == {"minimum": 1, "maximum": 3}

    # Bounds alone scale the default local cluster; no options leave it as it was, of fixed size.
    default = dask_task_runner(ClusterSpec(workers=2))
    adaptive = dask_task_runner(ClusterSpec(workers=2, adapt_min=0, adapt_max=4))
    assert adaptive.cluster_class is None and adaptive.cluster_kwargs == default.cluster_kwargs
    assert adaptive.cluster_kwargs["n_workers"] == 2
    assert adaptive.adapt_kwargs == {"minimum": 0, "maximum": 4} and default.adapt_kwargs == {}


def test_sweep_runs_on_a_cluster_its_cluster_class_starts(harness: None, store: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from flows.sweep import fmnist_sweep

    source = write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)
    summary = fmnist_sweep(
        data_source=str(source), frameworks=["torch"], max_epochs=1, seeds=1,
        cluster={"cluster_class": "distributed.LocalCluster", "cluster_kwargs": ONE_WORKER},
        work_dir=str(tmp_path / "work"), experiment="cluster-class",
    )  # fmt: skip

    client = MlflowClient(store)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["dask"] == "distributed.LocalCluster"
    exp = client.get_experiment_by_name("cluster-class")
    (child,) = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert child.info.status == "FINISHED"
    assert child.data.tags["framework"] == "torch" and 0.0 <= child.data.metrics["official_test/acc"] <= 1.0

    # The trial trained in a worker process of the cluster started for the sweep: not this process, and gone
    # once the sweep has closed that cluster.
    pid = child.data.tags["trial.worker_pid"]
    assert pid != str(os.getpid()) and [str(t["worker_pid"]) for t in summary["trials"]] == [pid]
    eventually(f"worker process {pid} to end with its cluster", lambda: not Path(f"/proc/{pid}").exists())
