"""Fault: the MLflow tracking server is unreachable at start, or killed (SIGKILL) in the middle of a training.

MLflow's client retries each call with backoff (``fmnist/tracking/client.py`` bounds it: 4 retries, about 15 s);
then the command fails with one clear ``error:`` line naming the tracking URI. Nothing logged before the
server went away is lost: the server restarted on the same store shows every metric seen before the kill. The
epochs trained while the server was gone are not lost either: their metrics are in the checkpoint folder, and
the same command resumed against the server once it is back sends them, with the values they had, to the same
run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from fmnist.ops.loopback import free_port
from fmnist.train.loop import read_state
from tests.e2e.faults.processes import FMNIST, start_mlflow_server, stop_group

pytestmark = pytest.mark.slow

API = "/api/2.0/mlflow"
# One call gives up after 4 retries (waits 0+2+4+8 s plus jitter); a training that loses its server makes at
# most three such calls before it stops (the epoch's artifact upload, closing its run, closing the parent). A
# training still waiting after this long has not given up: MLflow's own retry settings take minutes per call.
GIVE_UP_S = 210


def _error_line(stderr: str) -> str:
    """The command's one `error:` line, which must be its last line of output, with no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr[-3000:]
    return errors[0]


def test_server_unreachable_at_start_fails_fast_with_one_clear_error(real_splits: Path, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    uri = f"http://127.0.0.1:{port}"
    work = tmp_path / "work"
    work.mkdir()
    started = time.monotonic()
    # Fails fast: with MLflow's own retry settings it would still be waiting at the timeout.
    done = subprocess.run(
        [*FMNIST, "train", "torch", "--data", str(real_splits), "--max-epochs", "1"],
        env={**os.environ, "MLFLOW_TRACKING_URI": uri}, cwd=work, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stderr[-3000:]
    line = _error_line(done.stderr)
    assert line.startswith(f"error: MLflow tracking server {uri} unreachable (Connection refused"), line
    assert "check that the server is running" in line
    assert elapsed > 8, elapsed  # it did retry (8 s of backoff at least); a slow machine only adds to this
    assert list(work.iterdir()) == []  # no local store, no checkpoint folder


def test_server_killed_mid_training_fails_cleanly_and_loses_no_logged_metric(real_splits: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(store, port, tmp_path / "server.log")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "FMNIST_EXPERIMENT": "faults"}
    training = subprocess.Popen(
        [*FMNIST, "train", "torch", "--data", str(real_splits), "--max-epochs", "5", "--checkpoints",
         str(tmp_path / "ckpt"), "--json"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    restarted = None
    try:
        run_id = _wait_for_epoch(uri, training, epoch=2, timeout=420)
        seen = _metrics(uri, run_id)  # everything the server holds for the run right before it dies
        checkpoints = _artifacts(uri, run_id, "checkpoints")
        stop_group(server.pid, timeout=0, sig=signal.SIGKILL)
        server.wait(timeout=30)
        killed_at = time.monotonic()

        stdout, stderr = training.communicate(timeout=GIVE_UP_S)
        gave_up_after = time.monotonic() - killed_at
        assert training.returncode == 3, stderr[-3000:]
        assert stdout == ""  # no summary: the training did not pretend to finish
        line = _error_line(stderr)
        assert line.startswith(f"error: MLflow tracking server {uri} unreachable ("), line

        # The same store, served again (on another port): nothing that had reached it is gone.
        new_port = free_port()
        restarted = start_mlflow_server(store, new_port, tmp_path / "server-2.log")
        after = _metrics(f"http://127.0.0.1:{new_port}", run_id)
        for key, points in seen.items():
            assert points <= after[key], key
        assert {1, 2} <= {step for step, _ in seen["val/acc"]}
        assert {step for step, _ in after["val/acc"]} >= {1, 2}
        after_checkpoints = _artifacts(f"http://127.0.0.1:{new_port}", run_id, "checkpoints")
        assert checkpoints <= after_checkpoints
        assert {"checkpoints/epoch-001.pt", "checkpoints/epoch-002.pt"} <= after_checkpoints

        # The epochs trained during the outage: recorded in the checkpoint folder, not yet on the server.
        new_uri = f"http://127.0.0.1:{new_port}"
        state = read_state(tmp_path / "ckpt" / parent_of(new_uri, run_id) / "torch", "torch")
        assert state is not None
        during = {int(e["epoch"]): float(e["val_acc"]) for e in state["history"]}
        outage = {epoch: acc for epoch, acc in during.items() if epoch > max(step for step, _ in seen["val/acc"])}
        assert outage, f"no epoch was trained during the outage: {sorted(during)}"
        resumed = subprocess.run(
            [*FMNIST, "train", "torch", "--data", str(real_splits), "--max-epochs", "5", "--checkpoints",
             str(tmp_path / "ckpt"), "--parent-run-id", parent_of(new_uri, run_id), "--json"],
            env={**env, "MLFLOW_TRACKING_URI": new_uri}, cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        history = dict(_metrics(new_uri, run_id)["val/acc"])
        assert sorted(history) == [1, 2, 3, 4, 5]  # one run, every epoch once
        for epoch, acc in outage.items():
            assert history[epoch] == pytest.approx(acc, abs=1e-6), epoch
        print(f"epochs trained during the outage, sent after it: {sorted(outage)}")
        print(f"gave up {gave_up_after:.0f} s after the kill; {len(seen)} metric keys, all still there; stderr:")
        print(stderr[-2500:])
    finally:
        if training.poll() is None:
            stop_group(training.pid, timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                training.communicate(timeout=10)
        for process in (server, restarted):
            if process is not None:
                stop_group(process.pid, timeout=20)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)


def parent_of(uri: str, run_id: str) -> str:
    """The id of the run's parent run."""
    tags = _get(uri, "/runs/get", run_id=run_id)["run"]["data"]["tags"]
    return next(t["value"] for t in tags if t["key"] == "mlflow.parentRunId")


def _get(uri: str, endpoint: str, **params: str) -> dict:
    response = httpx.get(f"{uri}{API}{endpoint}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def _wait_for_epoch(uri: str, training: subprocess.Popen, epoch: int, timeout: float) -> str:
    """The torch child run's id, once the server holds ``val/acc`` and the checkpoint of ``epoch``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert training.poll() is None, training.communicate()[1][-3000:]
        with contextlib.suppress(httpx.HTTPError, KeyError):
            experiment = _get(uri, "/experiments/get-by-name", experiment_name="faults")["experiment"]
            response = httpx.post(
                f"{uri}{API}/runs/search",
                json={"experiment_ids": [experiment["experiment_id"]], "filter": "tags.framework = 'torch'"},
                timeout=10,
            )
            for run in response.json().get("runs", []):
                run_id = run["info"]["run_id"]
                history = _get(uri, "/metrics/get-history", run_id=run_id, metric_key="val/acc").get("metrics", [])
                uploaded = _artifacts(uri, run_id, "checkpoints")
                if any(int(m["step"]) >= epoch for m in history) and f"checkpoints/epoch-{epoch:03d}.pt" in uploaded:
                    return run_id
        time.sleep(0.5)
    raise AssertionError(f"epoch {epoch} never reached the server")


def _metrics(uri: str, run_id: str) -> dict[str, set[tuple[int, float]]]:
    """Every metric of the run: key → {(step, value)}."""
    keys = [m["key"] for m in _get(uri, "/runs/get", run_id=run_id)["run"]["data"].get("metrics", [])]
    return {
        key: {
            (int(m["step"]), float(m["value"]))
            for m in _get(uri, "/metrics/get-history", run_id=run_id, metric_key=key).get("metrics", [])
        }
        for key in keys
    }


def _artifacts(uri: str, run_id: str, path: str) -> set[str]:
    files = _get(uri, "/artifacts/list", run_id=run_id, path=path).get("files", [])
    return {f["path"] for f in files}
