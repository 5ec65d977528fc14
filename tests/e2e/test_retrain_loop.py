"""End to end, on the real data, against a real Prefect server, process worker and MLflow server on loopback: a
scheduled retrain with nothing new retrains nothing; adding a shifted batch sends an event that starts the
retrain deployment, which registers a new version and lets the rule decide; the served champion follows the alias
after a restart; adding the same batch again is refused and starts nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from fmnist.data.manifest import read_verified_split
from fmnist.data.shifts import Shift, draw_batch, write_batch
from fmnist.ops.stack import StackState, client_env
from fmnist.serve.model import Classifier
from fmnist.tracking import Tracker
from tests.e2e.serving import served_probabilities
from tests.e2e.test_stack_deployment import PREFECT, stack  # noqa: F401 - the module's own stack
from tests.eventually import eventually
from tests.prefect_api import FINAL_STATE_TYPES, api

pytestmark = pytest.mark.slow

EXPERIMENT = "e2e-retrain"


def _deployment(state: StackState, name: str) -> dict:
    auth = client_env(state)["PREFECT_API_AUTH_STRING"]
    return api(state.prefect_api_url, "GET", f"/deployments/name/fmnist-retrain/{name}", auth=auth)  # type: ignore[return-value]


def _set_parameters(state: StackState, name: str, parameters: dict) -> None:
    """Give the deployment these default parameters (what `prefect deploy` would, from an edited prefect.yaml)."""
    deployment = _deployment(state, name)
    user, password = client_env(state)["PREFECT_API_AUTH_STRING"].split(":", 1)
    response = httpx.patch(
        f"{state.prefect_api_url}/deployments/{deployment['id']}",
        json={"parameters": {**deployment["parameters"], **parameters}},
        auth=(user, password),
        timeout=30,
    )
    response.raise_for_status()


def _run(state: StackState, name: str, *params: str) -> str:
    """``prefect deployment run fmnist-retrain/<name> --watch``; the flow run's id."""
    args = [a for p in params for a in ("--param", p)]
    done = subprocess.run(
        [PREFECT, "deployment", "run", f"fmnist-retrain/{name}", *args, "--watch", "--watch-timeout", "900"],
        env=client_env(state), capture_output=True, text=True, timeout=960,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return next(line.split("UUID:")[1].strip() for line in done.stdout.splitlines() if "UUID:" in line)


def _flow_runs(state: StackState, deployment_id: str) -> list[dict]:
    auth = client_env(state)["PREFECT_API_AUTH_STRING"]
    query = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}
    return api(state.prefect_api_url, "POST", "/flow_runs/filter", query, auth)  # type: ignore[return-value]


def _add(state: StackState, batch: Path, work: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fmnist", "ingest", "--add", str(batch), "--data-source", str(data_dir),
         "--work-dir", str(work), "--experiment", EXPERIMENT, "--json"],
        env=client_env(state), capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _champion_probabilities(tracker: Tracker, pixels: np.ndarray) -> tuple[str, np.ndarray]:
    version = tracker.alias_version("fmnist", "champion")
    run_id = tracker.source_run(f"models:/fmnist/{version}")
    return str(version), Classifier.from_run(tracker, run_id).predict_proba(pixels)


def test_new_data_starts_a_retrain_and_nothing_new_retrains_nothing(
    stack: tuple[StackState, Path],  # noqa: F811
    real_data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, base = stack
    env = client_env(state)
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, env[name])
    work = base / "retrain-work"
    common = {"data_source": str(real_data_dir), "work_dir": str(work), "experiment": EXPERIMENT}
    # Short trainings: the recipe of the deployments, with a 3-epoch budget.
    for name in ("retrain-on-new-data", "scheduled-retrain"):
        _set_parameters(state, name, {**common, "max_epochs": 3})
    tracker = Tracker(state.mlflow_url, EXPERIMENT)

    # A first champion: one epoch of the reference recipe, run by hand.
    _run(state, "retrain-on-new-data", "preset=seed", "max_epochs=1", "trigger=manual")
    assert tracker.alias_version("fmnist", "champion") == "1"
    probe, _ = read_verified_split(work / "splits" / "seed-42", "val")
    probe = probe[:8]
    before = served_probabilities("models:/fmnist@champion", env, probe, tmp_path / "serve-1.log")
    np.testing.assert_allclose(before, _champion_probabilities(tracker, probe)[1], atol=1e-5)

    # The schedule with nothing new: completed at once, says why, registers nothing.
    skipped = _run(state, "scheduled-retrain")
    flow_run = api(state.prefect_api_url, "GET", f"/flow_runs/{skipped}", auth=env["PREFECT_API_AUTH_STRING"])
    assert flow_run["state_type"] == "COMPLETED"  # type: ignore[index]
    assert "not retrained: nothing new" in flow_run["state"]["message"]  # type: ignore[index]
    assert flow_run["parameters"]["trigger"] == "schedule"  # type: ignore[index]
    assert tracker.alias_version("fmnist", "challenger") == "1"  # no version 2
    check = tracker.run(str(tracker.find_run("retrain.skipped", "true")))
    assert "nothing new" in check["tags"]["retrain.reason"] and check["tags"]["retrain.trigger"] == "schedule"

    # A shifted batch from the training images, added from the command line: the event starts the retrain.
    pixels, labels = read_verified_split(work / "splits" / "seed-42", "train")
    shift = Shift(brightness=30, rotate=10, class_weights={6: 3.0})
    batch = write_batch(tmp_path / "batch", *draw_batch(pixels, labels, 2000, shift, seed=5), "png")
    on_new_data = _deployment(state, "retrain-on-new-data")["id"]
    runs_before = {r["id"] for r in _flow_runs(state, on_new_data)}
    added = _add(state, batch, work, real_data_dir)
    assert added.returncode == 0, added.stderr[-3000:]
    summary = json.loads(added.stdout.strip().splitlines()[-1])
    assert summary["drift"] == "drift" and summary["rows"] == 2000

    def triggered() -> list[dict]:
        return [r for r in _flow_runs(state, on_new_data) if r["id"] not in runs_before]

    runs = eventually("the triggered retrain to finish", triggered,
                      lambda rs: rs and rs[0]["state_type"] in FINAL_STATE_TYPES, timeout=900, every=3)  # fmt: skip
    assert len(runs) == 1 and runs[0]["state_type"] == "COMPLETED", runs
    assert runs[0]["parameters"]["trigger"] == f"batch {summary['batch']}"

    # A new version, trained on base + batch, and the rule's decision against the champion on the same images.
    tags = tracker.version_tags("fmnist", "2")
    assert tags["data.version"] == summary["data_version"] and tags["data.batches"] == summary["batch"]
    assert tags["promotion.previous_champion"] == "1" and tags["promotion.gate"].startswith("official_test+recent")
    assert tags["promotion.p_value"] != "none"
    champion = tracker.alias_version("fmnist", "champion")
    assert champion == ("2" if tags["promotion.promoted"] == "True" else "1")

    # The served champion, restarted, is whatever the alias names now.
    after = served_probabilities("models:/fmnist@champion", env, probe, tmp_path / "serve-2.log")
    version, expected = _champion_probabilities(tracker, probe)
    assert version == champion
    np.testing.assert_allclose(after, expected, atol=1e-5)
    if champion == "2":
        assert not np.allclose(after, before, atol=1e-3)

    # The same batch again: one line, nothing recorded, no event, no retrain.
    again = _add(state, batch, work, real_data_dir)
    assert again.returncode == 2 and f"already added as batch {summary['batch']}" in again.stderr
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    time.sleep(15)  # what a trigger would start shows up within seconds
    assert len(_flow_runs(state, on_new_data)) == len(runs_before) + 1
