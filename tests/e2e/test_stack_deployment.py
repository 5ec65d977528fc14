"""End to end: real Prefect server, MLflow server and process worker on loopback; deploy prefect.yaml, run
`prefect deployment run 'fmnist-pipeline/compare'` twice, and check everything through both servers' APIs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from fmnist.ops.stack import CLIENT_ENV_FILE, STATE_FILE, StackConfig, StackState, client_env, down, status, up
from tests.prefect_api import api, final_task_states

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StackState, Path]]:
    base = tmp_path_factory.mktemp("stack")
    state_dir = base / "state"
    state = up(StackConfig(ROOT, state_dir, base / "mlruns", start_timeout=240))
    try:
        yield state, base
    finally:
        env = client_env(state)
        secrets = (env["PREFECT_API_AUTH_STRING"].split(":", 1)[1], env["MLFLOW_TRACKING_PASSWORD"])
        stopped = down(state_dir)
        assert set(stopped) <= {"prefect-worker", "mlflow-server", "prefect-server"}
        assert status(state_dir)["running"] is False
        assert not state.path(CLIENT_ENV_FILE).exists()  # the credentials go with the stack
        # `down` waited for its processes, which were this test process's children, and so reaped them.
        assert [s.pid for s in state.processes.values() if psutil.pid_exists(s.pid)] == []
        # No secret in what the stack wrote: its logs (the worker's holds its flow runs' output) and its state.
        logs = {path.name: path.read_text(errors="replace") for path in state.path("logs").iterdir()}
        assert len(logs) == 3 and [name for name, text in logs.items() if any(s in text for s in secrets)] == []


def _run_deployment(state: StackState, work: Path, data_dir: Path) -> str:
    done = subprocess.run(
        [PREFECT, "deployment", "run", "fmnist-pipeline/compare", "--param", "max_epochs=1",
         "--param", f"data_source={data_dir}", "--param", f"work_dir={work}", "--param", "experiment=e2e",
         "--watch", "--watch-timeout", "900"],
        env=client_env(state), capture_output=True, text=True, timeout=960,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Completed" in done.stdout
    for line in done.stdout.splitlines():
        if "UUID:" in line:
            return line.split("UUID:")[1].strip()
    raise AssertionError(f"no flow run id in: {done.stdout[-2000:]}")


def test_both_servers_require_the_credentials_and_no_secret_leaks(stack: tuple[StackState, Path]) -> None:
    state, _ = stack
    env = client_env(state)
    client_file = state.path(CLIENT_ENV_FILE)
    assert client_file.stat().st_mode & 0o777 == 0o600
    assert env["PREFECT_API_URL"] == state.prefect_api_url and env["MLFLOW_TRACKING_URI"] == state.mlflow_url
    user, password = env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]
    experiments = f"{state.mlflow_url}/api/2.0/mlflow/experiments/search?max_results=1"
    pools = f"{state.prefect_api_url}/work_pools/filter"

    assert httpx.get(experiments, timeout=30).status_code == 401
    assert httpx.get(experiments, auth=(user, "wrong"), timeout=30).status_code == 401
    assert httpx.get(experiments, auth=(user, password), timeout=30).status_code == 200
    assert httpx.post(pools, json={}, timeout=30).status_code == 401
    assert httpx.post(pools, json={}, auth=(user, "wrong"), timeout=30).status_code == 401
    assert httpx.post(pools, json={}, auth=tuple(env["PREFECT_API_AUTH_STRING"].split(":", 1)), timeout=30).is_success

    # Cross-origin requests (a CORS preflight, as a browser sends it): Prefect allows its own origin only. MLflow's
    # security middleware allows every loopback origin, whatever its settings, and refuses the others.
    for url, sender, allowed in (
        (pools, state.prefect_url, True), (pools, "http://127.0.0.1:1", False), (pools, "https://evil.example", False),
        (experiments, state.mlflow_url, True), (experiments, "https://evil.example", False),
    ):  # fmt: skip
        headers = {"Origin": sender, "Access-Control-Request-Method": "POST"}
        answer = httpx.options(url, headers=headers, timeout=30).headers.get("access-control-allow-origin")
        assert (answer == sender) is allowed, (url, sender, answer)

    # No secret in the state file or the status (nor in the logs: checked when the stack stops).
    secrets = (env["PREFECT_API_AUTH_STRING"].split(":", 1)[1], password)
    shown = state.path(STATE_FILE).read_text() + json.dumps(status(state.state_dir))
    assert not any(secret in shown for secret in secrets)


def test_deployment_runs_end_to_end_and_caches_on_rerun(
    stack: tuple[StackState, Path], real_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    state, base = stack
    env = client_env(state)
    prefect, auth = state.prefect_api_url, env["PREFECT_API_AUTH_STRING"]
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, env[name])
    assert state.prefect_url.startswith("http://127.0.0.1:") and state.mlflow_url.startswith("http://127.0.0.1:")

    # Deployments and the schedule, as the server knows them.
    compare = api(prefect, "GET", "/deployments/name/fmnist-pipeline/compare", auth=auth)
    retrain = api(prefect, "GET", "/deployments/name/fmnist-retrain/scheduled-retrain", auth=auth)
    assert compare["work_pool_name"] == "fmnist-process"
    schedules = retrain["schedules"]
    assert len(schedules) == 1 and schedules[0]["active"] is True
    assert schedules[0]["schedule"]["cron"] == "0 3 * * 1" and schedules[0]["schedule"]["timezone"]

    first = _run_deployment(state, base / "work", real_data_dir)
    flow_run = api(prefect, "GET", f"/flow_runs/{first}", auth=auth)
    assert flow_run["state_type"] == "COMPLETED"

    # The registry too: a client without one uses the registry an earlier run in this process set (MLflow's global).
    client = MlflowClient(state.mlflow_url, registry_uri=state.mlflow_url)
    experiment = client.get_experiment_by_name("e2e")
    parents = client.search_runs([experiment.experiment_id], f"tags.`prefect.flow_run_id` = '{first}'")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["prefect.deployment"] == "compare"
    assert parent.data.tags["prefect.flow_run_url"].startswith(state.prefect_url)
    assert any("mcnemar" in key for key in parent.data.metrics)
    children = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {c.data.tags["framework"] for c in children} == {"keras", "torch"}
    for child in children:
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val/acc")] == [1]
        assert "official_test/acc" in child.data.metrics
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id, "checkpoints")}
        first_epoch = {"torch": "epoch-001.pt", "keras": "epoch-001.weights.h5"}[child.data.tags["framework"]]
        assert {"checkpoints/best", f"checkpoints/{first_epoch}"} <= artifacts
    for name in ("fmnist", "fmnist-keras", "fmnist-torch"):
        model = client.get_registered_model(name)
        assert "champion" in model.aliases and "challenger" in model.aliases

    # Links both ways: the flow publishes a link to the MLflow parent run and the comparison table.
    artifacts = api(prefect, "POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [first]}}}, auth)
    links = [a for a in artifacts if f"{state.mlflow_url}/#/experiments/" in str(a["data"])]
    assert links and parent.info.run_id in str(links[0]["data"])
    tables = [a for a in artifacts if a["key"] == "fmnist-comparison"]
    assert tables and "reference study" in str(tables[0]["data"])

    second = _run_deployment(state, base / "work", real_data_dir)
    by_name = final_task_states(prefect, second, ("ingest", "split", "train-torch-seed-42", "register"), auth)
    assert by_name["ingest"] == "Cached" and by_name["split"] == "Cached", by_name
    assert by_name["train-torch-seed"] == "Completed" and by_name["register"] == "Completed", by_name
    # The second run's models are new versions; champion moves only by the rule (equal accuracy: it stays).
    for name in ("fmnist-keras", "fmnist-torch"):
        model = client.get_registered_model(name)
        assert model.aliases["challenger"] == "2"
        versions = {v.version: v for v in client.search_model_versions(f"name = '{name}'")}
        tags = versions["2"].tags
        assert tags["promotion.previous_champion"] == "1"
        assert (model.aliases["champion"] == "2") == (tags["promotion.promoted"] == "True")
