"""``mlflow models serve`` on the champion: the logged model is code that loads its run's weights, and the server
answers N×784 raw pixels with N×10 class probabilities, the ones fmnist's own loader gives."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import httpx
import numpy as np
import pytest

from fmnist.config import ModelConfig
from fmnist.ops.loopback import free_port
from fmnist.serve.model import Classifier
from fmnist.tracking import Tracker
from tests.e2e.faults.processes import stop_group
from tests.factories import make_arrays

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BIN = Path(sys.executable).parent


def _champion(tmp_path: Path) -> tuple[Tracker, str]:
    """An (untrained) PyTorch model logged as a training run logs it, registered as ``fmnist@champion``."""
    import torch

    from fmnist.models import torch_net

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "serving")
    model_cfg = ModelConfig(hidden=(16,))
    run_id = tracker.start_parent("trained", {"framework": "torch"})
    weights = tmp_path / "best.pt"
    torch.save({"model": torch_net.build_model(model_cfg, seed=0).state_dict()}, weights)
    tracker.log_text(run_id, json.dumps(asdict(model_cfg)), "model_config.json")
    tracker.log_artifact(run_id, weights, "checkpoints/best")
    model_uri = tracker.log_model(run_id, "torch", weights, model_cfg)
    tracker.end_run(run_id)
    tracker.set_alias("fmnist", "champion", tracker.register(model_uri, "fmnist"))
    return tracker, run_id


def test_the_served_champion_answers_pixels_with_probabilities(tmp_path: Path) -> None:
    tracker, run_id = _champion(tmp_path)
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracker.uri, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(
            [str(BIN / "mlflow"), "models", "serve", "-m", "models:/fmnist@champion", "--env-manager", "local",
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        pixels, _ = make_arrays(5)
        answer = httpx.post(f"{url}/invocations", json={"inputs": pixels.tolist()}, timeout=60)
    finally:
        stop_group(server.pid, timeout=10)
        server.wait(timeout=10)
    assert answer.status_code == 200, answer.text
    probabilities = np.asarray(answer.json()["predictions"])
    assert probabilities.shape == (5, 10)
    expected = Classifier.from_run(tracker, run_id).predict_proba(pixels)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
