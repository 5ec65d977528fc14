"""End to end: four registrations started at the same moment from four processes, against a real MLflow server
and a real Prefect API, decide one after the other under the registry lock (a Prefect global concurrency limit).

Each version's ``promotion.previous_champion`` tag says which champion it was compared with; read in version
order, those must chain: each names the champion the decision before it left (its own version if it promoted,
else the one it was compared with). Without the lock the four read the champion at once and each, finding
none, is promoted as the first model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fmnist.ops.loopback import free_port
from tests.e2e.faults.processes import start_mlflow_server, stop_group
from tests.factories import write_split_folder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROCESSES = 4
EXPERIMENT = "registry-race"
NAMES = ("fmnist-torch", "fmnist")


def register_when_told(tracking_uri: str, model_uri: str, run_id: str, split_dir: str) -> None:
    """In a child process: import everything, say ``ready``, register when a line arrives on stdin."""
    from tasks.register import register_task

    print("ready", flush=True)
    sys.stdin.readline()
    registrations = register_task(
        tracking_uri, EXPERIMENT, {"torch": (model_uri, run_id)}, {"torch": 0.0}, Path(split_dir), 0.05, 0.0
    )
    print(json.dumps([r.__dict__ for r in registrations]), flush=True)


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    server = start_mlflow_server(store, port, store / "server.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(server.pid, timeout=10)
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[str]:
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


def _log_models(uri: str, split_dir: Path) -> list[tuple[str, str]]:
    """Four PyTorch models of different quality (1 to 4 epochs on a small learnable set), trained and logged as
    the pipeline does, and a split folder of that kind in ``split_dir`` (its official test set is the gate)."""
    from fmnist.config import ModelConfig, TrainConfig
    from fmnist.tracking import Tracker
    from fmnist.train.tracked import train_framework
    from tests.unit.train.synthetic import make_data

    data = make_data(n_train=256, n_val=1_000, noise=120.0)
    write_split_folder(split_dir, data.x_val, data.y_val.astype(np.uint8))
    tracker = Tracker(uri, EXPERIMENT)
    parent = tracker.start_parent("models")
    models = []
    for epochs in range(1, PROCESSES + 1):
        trained = train_framework(
            "torch", split_dir, ModelConfig(), TrainConfig(max_epochs=epochs, seed=epochs), tracker=tracker,
            parent_run_id=parent, checkpoint_root=split_dir / "checkpoints", run_name=f"epochs-{epochs}",
        )  # fmt: skip
        models.append((trained.model_uri, trained.run_id))
    return models


def test_four_registrations_at_once_each_compare_with_the_champion_the_previous_one_left(
    mlflow_uri: str, prefect_api: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    models = _log_models(mlflow_uri, tmp_path)
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING"}  # fmt: skip
    code = "import sys; from tests.e2e.test_concurrent_registrations import register_when_told as r; r(*sys.argv[1:])"
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, mlflow_uri, model_uri, run_id, str(tmp_path)],
            env=env,
            start_new_session=True,
            **pipes,
        )
        for model_uri, run_id in models
    ]
    try:
        for child in children:  # every child has imported Prefect, MLflow and the task before any registers
            assert child.stdout is not None and child.stdout.readline().strip() == "ready", child.communicate()[1]
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=600) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                stop_group(child.pid, timeout=10)
    for child, (stdout, stderr) in zip(children, outputs, strict=True):
        assert child.returncode == 0, stderr[-3000:]
        assert len(json.loads(stdout.strip().splitlines()[-1])) == len(NAMES)

    client = MlflowClient(mlflow_uri, registry_uri=mlflow_uri)
    for name in NAMES:
        versions = {int(v.version): v.tags for v in client.search_model_versions(f"name = '{name}'")}
        assert sorted(versions) == list(range(1, PROCESSES + 1)), name
        champion = "none"
        for version, tags in sorted(versions.items()):
            assert tags["promotion.previous_champion"] == champion, (name, version, versions)
            if tags["promotion.promoted"] == "True":
                champion = str(version)
        assert client.get_registered_model(name).aliases["champion"] == champion
        decisions = {v: (t["promotion.previous_champion"], t["promotion.promoted"]) for v, t in versions.items()}
        print(f"{name}: (compared with, promoted) by version {decisions}; champion v{champion}")
