"""End to end: docker/compose.yaml's topology without containers.

A throw-away PostgreSQL cluster (initdb on 127.0.0.1, a free port), `docker/postgres-init.sh` against it, then the
MLflow server (basic auth), the Prefect server (API auth string), the deploy job and a process worker, each started
with exactly the command and environment Compose gives its service (tests/unit/docker/stack_env.py), only the
`STACK_*` locations and the secrets set here. `prefect deployment run 'fmnist-pipeline/compare'` must then
complete and leave its runs and models in MLflow (and so in PostgreSQL).

Needs the PostgreSQL server binaries (Debian's `postgresql` package, installed by .ci/run) and the real data.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from fmnist.ops.loopback import free_port
from tests.postgres_cluster import cluster_dir, postgres_bin, start_postgres, stop_postgres
from tests.unit.docker.stack_env import DOCKER_DIR, service_command, service_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 240.0


def _postgres_bin() -> Path:
    """The PostgreSQL server binaries; skip (fail in CI) without them."""
    found = postgres_bin()
    if found is None:
        message = "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class Stack:
    """What the fixture started, and how to reach it."""

    base: Path
    project_env: dict[str, str]
    pg_bin: Path
    pg_data: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.project_env['STACK_MLFLOW_PORT']}"

    @property
    def prefect_api(self) -> str:
        return f"http://127.0.0.1:{self.project_env['STACK_PREFECT_PORT']}/api"

    def env(self, service: str, **extra: str) -> dict[str, str]:
        """The service's Compose environment over this machine's PATH, with a private PREFECT_HOME."""
        base = {"PATH": f"{BIN}{os.pathsep}{self.pg_bin}{os.pathsep}{os.environ.get('PATH', '')}",
                "HOME": os.environ.get("HOME", "/root"), "PREFECT_HOME": str(self.base / f"prefect-home-{service}"),
                "PYTHONUNBUFFERED": "1"}  # fmt: skip
        return {**base, **service_env(service, self.project_env), **extra}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = self.base / f"{name}.log"
        with open(log, "ab") as out:
            # Its own session, so that teardown can stop the whole process group (servers fork workers).
            self.processes[name] = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self.logs[name] = log

    def tail(self, name: str, chars: int = 3000) -> str:
        return self.logs[name].read_text(errors="replace")[-chars:] if name in self.logs else ""

    def wait_http(self, name: str, url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise AssertionError(f"{name} exited with {self.processes[name].returncode}:\n{self.tail(name)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=3).status_code == 200:
                    return
            time.sleep(1)
        raise AssertionError(f"{name} did not answer at {url} in {START_TIMEOUT:.0f} s:\n{self.tail(name)}")

    def stop_all(self, timeout: float = 20.0) -> None:
        # Worker first (it may be running a flow), then the servers.
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=timeout)
            # Whatever the group leader left behind (server workers, flow-run processes) goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    pg_bin = _postgres_bin()
    # Not under pytest's tmp folder: that is private to root, and PostgreSQL runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="fmnist-compose-"))
    base.chmod(0o755)
    pg_dir = cluster_dir(base)
    secret = secrets.token_hex(16)
    project_env = {
        # docker/.env: every secret distinct, URL-safe as .env.example asks.
        "POSTGRES_PASSWORD": f"pg-{secret}",
        "MLFLOW_DB_PASSWORD": f"mlflow-db-{secret}",
        "PREFECT_DB_PASSWORD": f"prefect-db-{secret}",
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": f"mlflow-admin-{secret}",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(24),
        "PREFECT_API_AUTH_STRING": f"admin:prefect-{secret}",
        # Where the services are when they are not containers.
        "STACK_POSTGRES_HOST": "127.0.0.1",
        "STACK_POSTGRES_PORT": str(free_port()),
        "STACK_MLFLOW_HOST": "127.0.0.1",
        "STACK_MLFLOW_PORT": str(free_port()),
        "STACK_PREFECT_HOST": "127.0.0.1",
        "STACK_PREFECT_PORT": str(free_port()),
        "STACK_LISTEN_HOST": "127.0.0.1",
        "STACK_MLFLOW_ARTIFACTS": str(base / "mlflow-artifacts"),
        "STACK_SETTINGS_DIR": str(DOCKER_DIR / "settings"),
    }
    project_env["FMNIST_PREFECT_PUBLIC_URL"] = f"http://127.0.0.1:{project_env['STACK_PREFECT_PORT']}"
    stack = Stack(base, project_env, pg_bin, pg_dir / "data")
    try:
        start_postgres(pg_bin, pg_dir, project_env["STACK_POSTGRES_PORT"], project_env["POSTGRES_PASSWORD"])
        # The postgres image runs the init script with its own environment (settings/common.env + secrets);
        # here it reaches the server over TCP as the superuser.
        init_env = {**stack.env("postgres"), "PGHOST": "127.0.0.1", "PGPORT": project_env["STACK_POSTGRES_PORT"],
                    "PGPASSWORD": project_env["POSTGRES_PASSWORD"]}  # fmt: skip
        init = subprocess.run(["bash", str(DOCKER_DIR / "postgres-init.sh")], env=init_env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert init.returncode == 0, init.stdout + init.stderr

        stack.start("mlflow", service_command("mlflow"), stack.env("mlflow"))
        stack.start("prefect-server", service_command("prefect-server"), stack.env("prefect-server"))
        stack.wait_http("mlflow", f"{stack.mlflow_url}/health")
        stack.wait_http("prefect-server", f"{stack.prefect_api}/health")

        # The deploy job, with the project folder of this checkout instead of the image's /app.
        deploy_env = stack.env("deploy", FMNIST_PROJECT_DIR=str(ROOT))
        deploy = subprocess.run(service_command("deploy"), env=deploy_env, cwd=ROOT, capture_output=True, text=True,
                                timeout=300)  # fmt: skip
        assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-3000:]
        # The image's CMD, less --with-healthcheck (its fixed port 8080 may be taken on a shared machine).
        worker_cmd = ["prefect", "worker", "start", "--pool", deploy_env["FMNIST_WORK_POOL"], "--type", "process"]
        stack.start("worker", worker_cmd, stack.env("worker"))
        yield stack
    finally:
        stack.stop_all()
        stop_postgres(pg_bin, stack.pg_data)
        shutil.rmtree(base, ignore_errors=True)


def test_servers_refuse_requests_without_credentials(stack: Stack) -> None:
    env = stack.env("worker")
    mlflow_auth = (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"])
    search = f"{stack.mlflow_url}/api/2.0/mlflow/experiments/search"
    assert httpx.get(search, params={"max_results": 1}, timeout=30).status_code == 401
    assert httpx.get(search, params={"max_results": 1}, auth=("admin", "wrong"), timeout=30).status_code == 401
    assert httpx.get(search, params={"max_results": 1}, auth=mlflow_auth, timeout=30).status_code == 200

    user, password = env["PREFECT_API_AUTH_STRING"].split(":", 1)
    pools = f"{stack.prefect_api}/work_pools/filter"
    assert httpx.post(pools, json={}, timeout=30).status_code == 401
    answer = httpx.post(pools, json={}, auth=(user, password), timeout=30)
    assert answer.status_code == 200
    assert env["FMNIST_WORK_POOL"] in {p["name"] for p in answer.json()}


def test_deployment_runs_through_postgres_backed_servers(stack: Stack, real_data_dir: Path) -> None:
    import psycopg
    from mlflow import MlflowClient

    client_env = stack.env("worker")
    done = subprocess.run(
        ["prefect", "deployment", "run", "fmnist-pipeline/compare", "--param", "max_epochs=1",
         "--param", f"data_source={real_data_dir}", "--param", f"work_dir={stack.base / 'work'}",
         "--watch", "--watch-timeout", "900"],
        env=client_env, cwd=ROOT, capture_output=True, text=True, timeout=960,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:] + stack.tail("worker")
    flow_run_id = next(line.split("UUID:")[1].strip() for line in done.stdout.splitlines() if "UUID:" in line)

    credentials = {k: client_env[k] for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in credentials.items():
            patch.setenv(key, value)
        # The registry too: a client without one uses the registry an earlier run in this process set (MLflow's global).
        client = MlflowClient(client_env["MLFLOW_TRACKING_URI"], registry_uri=client_env["MLFLOW_TRACKING_URI"])
        experiment = client.get_experiment_by_name("fmnist-pipeline")
        (parent,) = client.search_runs([experiment.experiment_id], f"tags.`prefect.flow_run_id` = '{flow_run_id}'")
        assert parent.info.status == "FINISHED"
        assert parent.data.tags["prefect.deployment"] == "compare"
        children = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        assert sorted(c.data.tags["framework"] for c in children) == ["keras", "torch"]
        for child in children:
            assert child.info.status == "FINISHED"
            assert "official_test/acc" in child.data.metrics
            assert {a.path for a in client.list_artifacts(child.info.run_id, "checkpoints")} >= {"checkpoints/best"}
        for name in ("fmnist", "fmnist-keras", "fmnist-torch"):
            model = client.get_registered_model(name)
            assert {"champion", "challenger"} <= set(model.aliases)

    # The artifacts went through the server to its destination; the runs and the flow run are in PostgreSQL.
    assert any((stack.base / "mlflow-artifacts").rglob("*.pt")) and any((stack.base / "mlflow-artifacts").rglob("*.h5"))
    env, port = stack.project_env, stack.project_env["STACK_POSTGRES_PORT"]
    mlflow_db = f"host=127.0.0.1 port={port} dbname=mlflow user=mlflow password={env['MLFLOW_DB_PASSWORD']}"
    with psycopg.connect(mlflow_db) as db:
        (count,) = db.execute("select count(*) from runs where run_uuid = %s", (parent.info.run_id,)).fetchone()
        assert count == 1
    prefect_db = f"host=127.0.0.1 port={port} dbname=prefect user=prefect password={env['PREFECT_DB_PASSWORD']}"
    with psycopg.connect(prefect_db) as db:
        (state,) = db.execute("select state_type from flow_run where id = %s", (flow_run_id,)).fetchone()
        assert str(state).upper().endswith("COMPLETED")
