"""Fault: the Prefect process worker is SIGKILLed (with the flow run it started) while a deployment run trains.

The real stack (`fmnist.ops.stack.up`): Prefect server, MLflow server, process worker on loopback. A dead worker
cannot report anything, so the server learns it from silence: the flow run sends a heartbeat event every 30 s
(`PREFECT_FLOWS_HEARTBEAT_FREQUENCY`, Prefect's minimum) and the automation Prefect documents for "zombie"
flow runs (a proactive trigger: no heartbeat and no final state within 75 s of the last heartbeat) sets it to
Crashed. Prefect 3.9's server has no such detection built in; `fmnist stack up` sets the heartbeat and creates
the automation. A fresh worker then runs the deployment again to completion, with ingest and split
served from Prefect's cache.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fmnist.data.manifest import read_manifest
from fmnist.ops.stack import StackConfig, StackState, client_env, down, start_worker, status, up
from fmnist.ops.zombies import HEARTBEAT_SECONDS, ZOMBIE_AFTER_SECONDS, ZOMBIE_AUTOMATION_NAME
from tests.e2e.faults.processes import descendants, kill_tree, wait_gone
from tests.eventually import eventually
from tests.prefect_api import api, final_task_states, task_runs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
PREFECT = str(Path(sys.executable).parent / "prefect")
HEARTBEAT_S = HEARTBEAT_SECONDS
ZOMBIE_AFTER_S = ZOMBIE_AFTER_SECONDS


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[tuple[StackConfig, StackState]]:
    config = StackConfig(
        ROOT, tmp_path / "state", tmp_path / "mlruns", start_timeout=240,
    )  # fmt: skip
    state = up(config)
    try:
        yield config, state
    finally:
        down(config.state_dir)
        assert status(config.state_dir)["running"] is False


def _deployment_run(state: StackState, params: dict[str, object], watch: bool) -> tuple[str, str]:
    command = [PREFECT, "deployment", "run", "fmnist-pipeline/compare"]
    for key, value in params.items():
        command += ["--param", f"{key}={value}"]
    if watch:
        command += ["--watch", "--watch-timeout", "600"]
    done = subprocess.run(command, env=client_env(state), capture_output=True, text=True, timeout=660)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ids = [line.split("UUID:")[1].strip() for line in done.stdout.splitlines() if "UUID:" in line]
    assert ids, done.stdout[-2000:]
    return ids[0], done.stdout


def test_worker_killed_mid_run_crashes_the_run_and_a_fresh_worker_reruns_from_cache(
    stack: tuple[StackConfig, StackState], real_data_dir: Path, tmp_path: Path
) -> None:
    config, state = stack
    prefect, auth = state.prefect_api_url, client_env(state)["PREFECT_API_AUTH_STRING"]
    # `stack up` created the automation that marks a flow run Crashed when its heartbeats stop, once (beside the
    # ones the deployments' triggers create).
    automations = api(prefect, "POST", "/automations/filter", {}, auth)
    assert [a["name"] for a in automations].count(ZOMBIE_AUTOMATION_NAME) == 1, automations
    params = {"data_source": real_data_dir, "work_dir": tmp_path / "work", "experiment": "faults"}
    flow_run_id, _ = _deployment_run(state, {**params, "max_epochs": 3}, watch=False)

    def training_started() -> bool:
        run = api(prefect, "GET", f"/flow_runs/{flow_run_id}", auth=auth)
        return run["state_type"] == "RUNNING" and any(  # type: ignore[index]
            t.name.startswith("train-") and t.state_name == "Running" for t in task_runs(prefect, flow_run_id, auth)
        )

    eventually("a training task to run", training_started, timeout=480, every=2, ignore=(httpx.HTTPError,))
    worker = state.processes["prefect-worker"].pid
    assert descendants(worker), "the worker has no child process: where does the flow run?"
    killed = kill_tree(worker)  # the worker, the flow run it started and the trainings under it
    killed_at = time.monotonic()
    assert wait_gone(killed, timeout=30) == []
    with contextlib.suppress(ChildProcessError):
        os.waitpid(worker, 0)  # `up` started it from this process: reap it

    run = eventually(
        "the flow run to be marked Crashed",
        lambda: api(prefect, "GET", f"/flow_runs/{flow_run_id}", auth=auth),
        lambda run: run["state_type"] == "CRASHED",  # type: ignore[index]
        timeout=HEARTBEAT_S + ZOMBIE_AFTER_S + 90,
        every=2,
        ignore=(httpx.HTTPError,),
    )
    detected_after = time.monotonic() - killed_at
    assert "heartbeats stopped" in run["state"]["message"]  # type: ignore[index]
    read_manifest(tmp_path / "work" / "splits" / "seed-42", verify=True)  # the splits survived the kill intact

    start_worker(config, state)
    assert status(config.state_dir)["processes"]["prefect-worker"] is True
    rerun_id, out = _deployment_run(state, {**params, "max_epochs": 1}, watch=True)
    assert api(prefect, "GET", f"/flow_runs/{rerun_id}", auth=auth)["state_type"] == "COMPLETED", out[-3000:]  # type: ignore[index]
    by_name = final_task_states(prefect, rerun_id, ("ingest", "split", "train-keras-seed-42", "register"), auth)
    assert by_name["ingest"] == "Cached" and by_name["split"] == "Cached", by_name
    assert by_name["train-keras-seed"] == "Completed" and by_name["register"] == "Completed", by_name
    print(f"crash detected {detected_after:.0f} s after the kill")
