"""The sweep flow on Prefect's test harness and real Dask clusters, with tiny generated data and a local MLflow
store: trials fan out over worker processes, each is its own nested child run, and the parent gets the table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fmnist.experiments.cluster import ClusterSpec
from tests.factories import write_csv_pair
from tests.prefect_api import TaskRun, final_task_runs

pytestmark = pytest.mark.slow


def _children(store: str, experiment: str, parent_id: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(store)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'", max_results=100)


def _subflow_task_runs(parent_flow_run_id: str, names: list[str]) -> list[TaskRun]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.settings import PREFECT_API_URL

    with get_client(sync_client=True) as client:
        subflows = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_flow_run_id]))
        )
        assert len(subflows) == 1
    return final_task_runs(PREFECT_API_URL.value(), str(subflows[0].id), names)


def test_sweep_fans_trials_out_over_local_dask_workers(harness: None, store: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from flows.sweep import fmnist_sweep

    source = write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)
    state = fmnist_sweep(
        data_source=str(source), frameworks=["torch"], max_epochs=1, seed=5, seeds=2, lr=[1e-3, 3e-3],
        cluster=ClusterSpec(workers=2), work_dir=str(tmp_path / "work"), experiment="sweep", return_state=True,
    )  # fmt: skip
    assert state.is_completed(), state
    summary = state.result()
    parent_id = summary["parent_run_id"]

    # One nested child run per (grid point, seed), tagged with both, that trained with its own learning rate.
    children = _children(store, "sweep", parent_id)
    assert len(children) == 4
    tags = sorted((c.data.tags["framework"], c.data.tags["seed"], c.data.tags["lr"]) for c in children)
    assert tags == [("torch", s, lr) for s in ("5", "6") for lr in ("0.001", "0.003")]
    for child in children:
        assert child.info.status == "FINISHED"
        assert float(child.data.params["train.lr"]) == float(child.data.tags["lr"])
        assert child.data.params["train.max_epochs"] == "1" and child.data.params["seed"] == child.data.tags["seed"]
        assert 0.0 <= child.data.metrics["official_test/acc"] <= 1.0
    assert len({c.data.tags["mlflow.runName"] for c in children}) == 4

    # The trials ran in separate Dask worker processes, none of them this one.
    pids = {c.data.tags["trial.worker_pid"] for c in children}
    assert len(pids) >= 2 and str(os.getpid()) not in pids
    assert {str(t["worker_pid"]) for t in summary["trials"]} == pids

    # The parent holds the table: mean ± std over the two seeds of each grid point, from the children's scores.
    client = MlflowClient(store)
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    for lr, label in (("0.001", "lr-0.001"), ("0.003", "lr-0.003")):
        accs = [c.data.metrics["official_test/acc"] for c in children if c.data.tags["lr"] == lr]
        assert parent.data.metrics[f"sweep/torch/{label}/official_test_acc_mean"] == pytest.approx(sum(accs) / 2)
        assert parent.data.metrics[f"sweep/torch/{label}/official_test_acc_std"] == pytest.approx(
            abs(accs[0] - accs[1]) / 2**0.5
        )
    table = Path(client.download_artifacts(parent_id, "comparison/sweep.md", str(tmp_path / "dl"))).read_text()
    assert table.startswith("| Framework | lr | Seeds |")
    assert sum(line.startswith("| PyTorch | ") for line in table.splitlines()) == 2
    assert parent.data.tags["sweep.best.torch"] in ("lr-0.001", "lr-0.003")

    # Prefect saw each trial as its own task run of the trials sub-flow.
    names = [f"train-{t['name']}" for t in summary["trials"]]
    runs = _subflow_task_runs(str(state.state_details.flow_run_id), names)
    assert sorted(r.name for r in runs) == sorted(names)
    assert all(r.state_type == "COMPLETED" for r in runs)


def test_sweep_runs_on_an_existing_cluster_by_address(harness: None, store: str, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    from flows.sweep import fmnist_sweep
    from flows.trials import dask_task_runner

    source = write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)
    with (
        LocalCluster(**dask_task_runner(ClusterSpec(workers=1)).cluster_kwargs) as cluster,
        Client(cluster) as client,
    ):
        worker_pids = {str(pid) for pid in client.run(os.getpid).values()}
        summary = fmnist_sweep(
            data_source=str(source), frameworks=["keras"], max_epochs=1, seeds=1, dropout=[0.1],
            cluster=ClusterSpec(dask_address=cluster.scheduler_address), work_dir=str(tmp_path / "work"),
            experiment="address",
        )  # fmt: skip
        # The cluster outlives the sweep: the flow connected to it and left it running.
        assert client.run(os.getpid).keys() == cluster.scheduler_info["workers"].keys()

    (child,) = _children(store, "address", summary["parent_run_id"])
    assert child.data.tags["trial.worker_pid"] in worker_pids
    assert child.data.tags["framework"] == "keras" and child.data.tags["dropout"] == "0.1"
    assert child.data.params["model.dropout"] == "0.1"
    assert child.info.status == "FINISHED"
    assert "| Keras | 0.1 | 1 |" in summary["comparison_markdown"]


def _placement(cluster):
    """A scheduler plugin on ``cluster`` (a local cluster: its scheduler runs in this process) that records, for
    each task the scheduler hands to a worker, the workers it is restricted to and whether loosely."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Placement(SchedulerPlugin):
        def __init__(self, scheduler) -> None:
            self.scheduler, self.restrictions = scheduler, {}

        def transition(self, key, start, finish, *args, **kwargs) -> None:
            if finish == "processing":
                ts = self.scheduler.tasks[key]
                self.restrictions[key] = (frozenset(ts.worker_restrictions or ()), ts.loose_restrictions)

    placement = Placement(cluster.scheduler)
    cluster.scheduler.add_plugin(placement)
    return placement


def test_each_framework_s_trials_prefer_a_worker_of_their_own(harness: None, store: str, tmp_path: Path) -> None:
    from distributed import LocalCluster

    from flows.sweep import fmnist_sweep
    from flows.trials import dask_task_runner

    source = write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)
    with LocalCluster(**dask_task_runner(ClusterSpec(workers=2)).cluster_kwargs) as cluster:
        placement = _placement(cluster)
        summary = fmnist_sweep(
            data_source=str(source), frameworks=["keras", "torch"], max_epochs=1, seeds=2,
            cluster=ClusterSpec(dask_address=cluster.scheduler_address), work_dir=str(tmp_path / "work"),
            experiment="affinity",
        )  # fmt: skip
        workers = set(cluster.scheduler.workers)

    assert len(summary["trials"]) == 4
    # Two trials per worker, each restricted to one worker only, loosely (an idle worker may still steal one).
    restricted = sorted(placement.restrictions.values(), key=str)
    assert len(restricted) == 4 and all(loose for _, loose in restricted)
    assert [len(only) for only, _ in restricted] == [1, 1, 1, 1]
    assert {only for only, _ in restricted} == {frozenset({w}) for w in workers}
    assert restricted[0] == restricted[1] and restricted[2] == restricted[3]


def test_on_preloaded_workers_each_trial_goes_to_whichever_worker_is_free(
    harness: None, store: str, tmp_path: Path
) -> None:
    from distributed import LocalCluster

    from flows.sweep import fmnist_sweep
    from flows.trials import dask_task_runner

    source = write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)
    with LocalCluster(
        **dask_task_runner(ClusterSpec(workers=2)).cluster_kwargs, preload=["flows.dask_preload"]
    ) as cluster:
        placement = _placement(cluster)
        summary = fmnist_sweep(
            data_source=str(source), frameworks=["keras", "torch"], max_epochs=1, seeds=2,
            cluster=ClusterSpec(dask_address=cluster.scheduler_address), work_dir=str(tmp_path / "work"),
            experiment="anywhere",
        )  # fmt: skip

    assert len(summary["trials"]) == 4
    # Both workers hold both frameworks from the start: no trial is restricted to any worker.
    assert sorted(placement.restrictions.values(), key=str) == [(frozenset(), False)] * 4


def test_the_preload_imports_both_frameworks_when_a_worker_starts() -> None:
    import sys

    from distributed import Client, LocalCluster

    from flows.trials import dask_task_runner

    def loaded() -> list[str]:
        return sorted(m for m in ("tensorflow", "torch", "tasks.train") if m in sys.modules)

    from fmnist.train.trainers import imported_frameworks

    with (
        LocalCluster(**dask_task_runner(ClusterSpec(workers=1)).cluster_kwargs, preload=["flows.dask_preload"]) as warm,
        LocalCluster(**dask_task_runner(ClusterSpec(workers=1)).cluster_kwargs) as cold,
        Client(warm) as warm_client,
        Client(cold) as cold_client,
    ):  # fmt: skip
        assert list(warm_client.run(loaded).values()) == [["tasks.train", "tensorflow", "torch"]]
        assert list(cold_client.run(loaded).values()) == [[]]
        assert list(warm_client.run(imported_frameworks).values()) == [["keras", "torch"]]
        assert list(cold_client.run(imported_frameworks).values()) == [[]]


def _listening_on_every_interface() -> set[int]:
    """Ports with a TCP socket listening on 0.0.0.0 or :: (any process)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.split(":")
            if state == "0A" and set(address) == {"0"}:
                ports.add(int(port, 16))
    return ports


def test_the_local_cluster_listens_on_loopback_only() -> None:
    from distributed import LocalCluster

    from flows.trials import dask_task_runner

    runner = dask_task_runner(ClusterSpec(workers=1))
    before = _listening_on_every_interface()
    with LocalCluster(**runner.cluster_kwargs) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")
        assert _listening_on_every_interface() - before == set()


def _worker_settings(trial: object, setup: object) -> tuple[str | None, bool, str]:
    """Stands in for the training task: what the worker process it runs in was started with."""
    import dask

    return (
        os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        dask.config.get("distributed.worker.profile.enabled"),
        dask.config.get("distributed.admin.tick.interval"),
    )


def test_the_cluster_a_run_starts_keeps_glibc_s_malloc_thresholds_and_quiets_dask(
    harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import task

    import flows.trials
    from fmnist.train.trial import Trial, TrialSetup

    # A nanny copies its spawn variables into this process's environment too: start clean, and let monkeypatch
    # remove what the cluster might leave behind.
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setattr(flows.trials, "train_trial_task", task(_worker_settings))
    setup = TrialSetup(tmp_path, "seed", "parent", None, "sqlite:///unused.db")
    results = flows.trials.run_trials([Trial("torch", 1)], setup, ClusterSpec(workers=1))
    assert results == [(None, False, "500ms")]  # TRAINING_DASK_CONFIG, applied by run_trials
