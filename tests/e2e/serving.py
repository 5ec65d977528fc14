"""Serve a registered model with ``mlflow models serve`` on loopback and ask it for class probabilities."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import httpx
import numpy as np

from fmnist.config import ModelConfig
from fmnist.ops.loopback import free_port
from fmnist.tracking import Tracker
from tests.e2e.faults.processes import stop_group

BIN = Path(sys.executable).parent


def served_probabilities(model_uri: str, env: Mapping[str, str], pixels: np.ndarray, log: Path) -> np.ndarray:
    """Start ``mlflow models serve -m model_uri --env-manager local``, POST ``pixels`` (N×784, 0..255) to
    ``/invocations``, stop the server; return the N×10 probabilities it answered."""
    port = free_port()
    env = {**os.environ, **env, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    # MLflow's set_registry_uri also sets MLFLOW_REGISTRY_URI in this process's environment (for its subprocesses):
    # a registry an earlier test used would resolve models:/ here. The registry is the tracking server's.
    env["MLFLOW_REGISTRY_URI"] = env["MLFLOW_TRACKING_URI"]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        answer = httpx.post(f"{url}/invocations", json={"inputs": pixels.tolist()}, timeout=60)
    finally:
        stop_group(server.pid, timeout=10)
        server.wait(timeout=10)
    assert answer.status_code == 200, answer.text
    return np.asarray(answer.json()["predictions"])


def register_untrained_champion(tracker: Tracker, folder: Path) -> str:
    """An (untrained) PyTorch model logged as a training run logs it, registered as ``fmnist@champion``; return the
    id of the run that trained it."""
    import torch

    from fmnist.models import torch_net

    model_cfg = ModelConfig(hidden=(16,))
    run_id = tracker.start_parent("trained", {"framework": "torch"})
    weights = folder / "best.pt"
    torch.save({"model": torch_net.build_model(model_cfg, seed=0).state_dict()}, weights)
    tracker.log_text(run_id, json.dumps(asdict(model_cfg)), "model_config.json")
    tracker.log_artifact(run_id, weights, "checkpoints/best")
    model_uri = tracker.log_model(run_id, "torch", weights, model_cfg)
    tracker.end_run(run_id)
    tracker.set_alias("fmnist", "champion", tracker.register(model_uri, "fmnist"))
    return run_id
