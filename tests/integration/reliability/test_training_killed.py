"""Fault: the training process is SIGKILLed mid-epoch; rerunning the same command resumes from the last
checkpoint in the same MLflow run and ends with the metrics of an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fmnist.tracking import Tracker

pytestmark = pytest.mark.slow
FMNIST = [sys.executable, "-m", "fmnist", "--quiet"]


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_sigkill_mid_epoch_then_rerun_resumes_in_the_same_run(
    framework: str, real_splits: Path, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "FMNIST_EXPERIMENT": "faults"}
    train = [*FMNIST, "train", framework, "--data", str(real_splits), "--max-epochs", "3", "--seed", "3",
             "--checkpoints", str(tmp_path / "ckpt"), "--json"]  # fmt: skip

    straight = subprocess.run(train, env=env, capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr[-2000:]
    reference = json.loads(straight.stdout.strip().splitlines()[-1])

    tracker = Tracker(uri, "faults")
    parent = tracker.start_parent("killed")
    command = [*train, "--parent-run-id", parent]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "ckpt" / parent / framework / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 1:
            break
        assert process.poll() is None, "training ended before it could be killed"
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("epoch 1 was never checkpointed")
    time.sleep(0.3)  # into epoch 2
    process.kill()  # SIGKILL: no cleanup, no flush
    process.wait(timeout=30)
    killed_run = tracker.find_child(parent, framework)
    assert killed_run is not None
    assert tracker.run(killed_run)["status"] == "RUNNING"  # nobody closed it

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["run_id"] == killed_run
    assert tracker.run(killed_run)["status"] == "FINISHED"
    for key in ("train/loss", "val/loss", "val/acc"):
        got = tracker.metric_history(killed_run, key)
        want = tracker.metric_history(reference["run_id"], key)
        assert sorted({step for step, _ in got}) == [1, 2, 3], key
        # Epoch 2 started once before the kill but was never logged; every epoch appears with its final value.
        last = {step: value for step, value in got}
        np.testing.assert_allclose([last[s] for s in (1, 2, 3)], [v for _, v in want], rtol=1e-6, err_msg=key)


def test_sigterm_mid_epoch_ends_the_runs_killed_not_running(real_splits: Path, tmp_path: Path) -> None:
    import signal

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "FMNIST_EXPERIMENT": "terminated"}
    command = [*FMNIST, "train", "torch", "--data", str(real_splits), "--max-epochs", "5",
               "--checkpoints", str(tmp_path / "ckpt")]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list((tmp_path / "ckpt").glob("*/torch/state.json")):
        assert process.poll() is None and time.monotonic() < deadline, "epoch 1 was never checkpointed"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # `kill PID`, as a scheduler or a user stops a command
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0 and "Traceback" not in stderr, stderr[-3000:]

    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("terminated")
    runs = client.search_runs([experiment.experiment_id], "")
    assert sorted(r.info.status for r in runs) == ["KILLED", "KILLED"]  # the training and its parent
