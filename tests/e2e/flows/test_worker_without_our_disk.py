"""A Dask worker that cannot see our disk: it runs in a mount namespace of its own (``unshare --mount``) in which
the project's ``data/`` and ``mlruns/`` folders and the flow's work folder are hidden under empty tmpfs mounts.
A sweep with ``split_store="mlflow"`` places its trial there; the trial fetches its split from the MLflow
server's artifact store (a folder, or S3 served by moto on loopback) and its runs, metrics and model end up in
MLflow all the same. The artifact store's failures are one line naming the store.

Needs root (mount namespaces), as the e2e tier runs in CI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fmnist.experiments.cluster import ClusterSpec
from fmnist.ops.loopback import free_port
from tests.e2e.services import S3_KEYS, background, mlflow_server, s3_server
from tests.factories import write_csv_pair

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


@contextlib.contextmanager
def _cluster(base: Path, hidden: list[Path], tracking_uri: str) -> Iterator[tuple[str, int, Path]]:
    """A Dask scheduler, and one worker in its own mount namespace with ``hidden`` folders covered by empty tmpfs
    mounts; yields (scheduler address, worker pid, worker cache)."""
    port = free_port()
    scheduler = [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    cache = base / "worker-cache"
    with background(scheduler, base / "scheduler.log") as sched:
        address = f"tcp://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while "Scheduler at" not in (base / "scheduler.log").read_text() and time.monotonic() < deadline:
            assert sched.poll() is None, (base / "scheduler.log").read_text()
            time.sleep(0.3)
        for folder in hidden:
            folder.mkdir(parents=True, exist_ok=True)
        mounts = " && ".join(f'mount -t tmpfs fmnist-hidden "${i + 1}"' for i in range(len(hidden)))
        worker = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                  f"{mounts} && shift {len(hidden)} && exec \"$@\"", "sh", *map(str, hidden),
                  str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                  "--name", "hidden-disk"]  # fmt: skip
        env = {"FMNIST_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": tracking_uri}
        with background(worker, base / "worker.log", env) as proc:
            deadline = time.monotonic() + 120
            while "Registered to" not in (base / "worker.log").read_text():
                assert proc.poll() is None and time.monotonic() < deadline, (base / "worker.log").read_text()[-3000:]
                time.sleep(0.3)
            yield address, proc.pid, cache


def _hidden_from(pid: int, folder: Path) -> list[str]:
    """What the worker's mount namespace shows in ``folder``."""
    done = subprocess.run(["nsenter", "--target", str(pid), "--mount", "ls", "-A", str(folder)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.split()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
@pytest.mark.parametrize("store", ["folder", "s3"])
def test_a_worker_that_cannot_see_our_disk_trains_from_the_artifact_store(
    harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    from mlflow import MlflowClient

    from flows.sweep import fmnist_sweep

    work = tmp_path / "work"
    source = write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)
    services = tmp_path.parent / f"{tmp_path.name}-services"  # beside the hidden folder, not inside it
    services.mkdir()
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        destination = str(services / "artifacts")
        if store == "s3":
            env = {**S3_KEYS, "MLFLOW_S3_ENDPOINT_URL": stack.enter_context(s3_server(services))}
            destination = "s3://fmnist/mlflow"
        url = stack.enter_context(mlflow_server(services, destination, env))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        hidden = [ROOT / "data", ROOT / "mlruns", tmp_path]
        address, worker_pid, cache = stack.enter_context(_cluster(services, hidden, url))
        assert _hidden_from(worker_pid, tmp_path) == [] and (tmp_path / "csv").is_dir()

        state = fmnist_sweep(
            data_source=str(source), frameworks=["torch"], max_epochs=1, seed=3, seeds=1,
            cluster=ClusterSpec(dask_address=address), split_store="mlflow", work_dir=str(work),
            experiment="hidden-disk", return_state=True,
        )  # fmt: skip
        assert state.is_completed(), state
        summary = state.result()
        client = MlflowClient(url)
        experiment = client.get_experiment_by_name("hidden-disk")
        query = f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'"
        (child,) = client.search_runs([experiment.experiment_id], query)
        assert child.info.status == "FINISHED"
        assert child.data.tags["trial.worker_pid"] == str(worker_pid)
        # It read the split from its own cache, fetched from the store, not from the flow's folder.
        assert child.data.params["data.split_dir"].startswith(str(cache))
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val/acc")] == [1]
        assert "official_test/acc" in child.data.metrics
        assert client.search_logged_models([experiment.experiment_id])
        checkpoints = {a.path for a in client.list_artifacts(child.info.run_id, "checkpoints")}
        assert {"checkpoints/best", "checkpoints/epoch-001.pt"} <= checkpoints
        if store == "s3":  # the artifacts are in the bucket, through the server's proxy
            listing = httpx.get(f"{env['MLFLOW_S3_ENDPOINT_URL']}/fmnist?list-type=2&prefix=mlflow/", timeout=10).text
            assert "epoch-001.pt" in listing and "train.parquet" in listing
