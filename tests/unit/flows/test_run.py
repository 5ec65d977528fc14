"""``python -m flows.run`` as ``fmnist run`` calls it: which Prefect API it uses, and what it leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from flows.api_server import TemporaryApiServer
from tests.factories import write_csv_pair

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]


def _env(tmp_path: Path, prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {"PREFECT_HOME": str(prefect_home), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}


def _run_flow(tmp_path: Path, env: dict[str, str]) -> dict:
    source = write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)
    params = {"data_source": str(source), "frameworks": ["torch"], "max_epochs": 1,
              "work_dir": str(tmp_path / "work"), "experiment": "run"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "flows.run", "--params", json.dumps(params)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1].split(" ", 1)[1])


def _flow_runs(api_url: str) -> list[dict]:
    request = urllib.request.Request(f"{api_url}/flow_runs/filter", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _processes_with_home(prefect_home: Path) -> list[int]:
    """Processes still alive whose environment names ``prefect_home``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"PREFECT_HOME={prefect_home}".encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_without_a_configured_api_the_run_is_kept_and_its_server_stopped(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    summary = _run_flow(tmp_path, _env(tmp_path, home))
    assert set(summary["frameworks"]) == {"torch"}
    assert _processes_with_home(home) == []  # the temporary server went with the command

    # The run is in the PREFECT_HOME database, as with Prefect's own embedded server.
    reader = TemporaryApiServer()
    env_before = dict(os.environ)
    os.environ["PREFECT_HOME"] = str(home)
    try:
        reader.launch()
        reader.wait_ready(timeout=120)
        runs = _flow_runs(reader.api_url)
    finally:
        reader.stop()
        os.environ.clear()
        os.environ.update(env_before)
    assert [(r["state_type"], r["parameters"]["frameworks"]) for r in runs] == [("COMPLETED", ["torch"])]


def test_an_api_named_by_the_profile_is_used_instead(tmp_path: Path) -> None:
    server_home, client_home = tmp_path / "server", tmp_path / "client"
    env_before = dict(os.environ)
    os.environ["PREFECT_HOME"] = str(server_home)
    server = TemporaryApiServer()
    try:
        server.launch()
        server.wait_ready(timeout=120)
        env = _env(tmp_path, client_home)
        subprocess.run([sys.executable, "-m", "prefect", "config", "set", f"PREFECT_API_URL={server.api_url}"],
                       env=env, check=True, capture_output=True, timeout=120)  # fmt: skip
        _run_flow(tmp_path, env)
        runs = _flow_runs(server.api_url)
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(env_before)
    assert [r["state_type"] for r in runs] == ["COMPLETED"]
    assert not (client_home / "prefect.db").exists()  # no embedded server of its own
