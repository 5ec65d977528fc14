"""Fault: the process training a trial is SIGKILLed in the middle of the pipeline flow, on the real data.

The train task is retried and resumes from the last checkpoint in the same MLflow run: the flow completes, the
trial has one child run whose per-epoch metrics run 1..N once each, and no MLflow run is left RUNNING.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from fmnist.experiments.cluster import ClusterSpec
from tests.prefect_api import final_task_runs

pytestmark = pytest.mark.slow

EXPERIMENT = "trial-killed"
KILL_AFTER_EPOCH = 2


def _kill_when_trained(store: str, killed: dict[str, int], stop: threading.Event) -> None:
    """Once a child run has logged epoch ``KILL_AFTER_EPOCH``, SIGKILL the process its tag says trains it."""
    from mlflow import MlflowClient

    client = MlflowClient(store)
    while not stop.wait(0.2):
        experiment = client.get_experiment_by_name(EXPERIMENT)
        runs = client.search_runs([experiment.experiment_id], "tags.framework = 'torch'") if experiment else []
        for run in runs:
            epochs = [m.step for m in client.get_metric_history(run.info.run_id, "val/acc")]
            if len(epochs) >= KILL_AFTER_EPOCH:
                pid = int(run.data.tags["trial.worker_pid"])
                os.kill(pid, signal.SIGKILL)
                killed.update(pid=pid, epoch=max(epochs))
                return


def test_a_killed_training_resumes_in_its_run_and_the_pipeline_completes(
    harness: None, store: str, real_data_dir: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient
    from prefect.settings import PREFECT_API_URL

    from flows.pipeline import fmnist_pipeline

    killed: dict[str, int] = {}
    stop = threading.Event()
    killer = threading.Thread(target=_kill_when_trained, args=(store, killed, stop), daemon=True)
    killer.start()
    try:
        state = fmnist_pipeline(
            data_source=str(real_data_dir), frameworks=["torch"], max_epochs=6, cluster=ClusterSpec(workers=1),
            work_dir=str(tmp_path / "work"), experiment=EXPERIMENT, return_state=True,
        )  # fmt: skip
    finally:
        stop.set()
        killer.join(timeout=10)
    assert killed, "the training finished before it could be killed"
    assert state.is_completed(), state
    summary = state.result()

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], "")
    assert {r.info.status for r in runs} == {"FINISHED"}, [(r.info.run_name, r.info.status) for r in runs]
    (child,) = [r for r in runs if r.data.tags.get("framework") == "torch"]
    assert child.info.run_id == summary["frameworks"]["torch"]["run_id"]
    assert int(child.data.tags["trial.worker_pid"]) != killed["pid"]  # trained on, in another process
    steps = [m.step for m in client.get_metric_history(child.info.run_id, "val/acc")]
    stopped = int(child.data.metrics["stopped_epoch"])
    assert stopped > killed["epoch"]
    assert sorted(steps) == list(range(1, stopped + 1))  # every epoch once: resumed, not restarted
    assert "official_test/acc" in child.data.metrics

    # This flow run's trial (the package's harness also holds other tests' runs of the same name).
    runs = final_task_runs(PREFECT_API_URL.value(), str(state.state_details.flow_run_id), ["train-torch-seed-42"])
    assert [r.state_type for r in runs if r.name == "train-torch-seed-42"] == ["COMPLETED"]
    print(f"killed pid {killed['pid']} after epoch {killed['epoch']}")
