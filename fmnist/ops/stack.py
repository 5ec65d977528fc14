"""The local stack: a Prefect server, an MLflow server and a Prefect process worker, on 127.0.0.1.

What it starts and how clients use it: docs/operations.md, 'The local stack'. ``down`` stops exactly the processes
``up`` recorded in ``stack.json``, never one that merely reuses a pid. Secrets travel in environments only, never
on a command line (which any user can read) or in output. Prefect and MLflow are driven through their command
lines and HTTP, so this module imports neither.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fmnist.atomic import atomic_write_text
from fmnist.errors import FmnistError
from fmnist.ops import credentials
from fmnist.ops.loopback import HOST, free_port
from fmnist.ops.processes import Started, find, spawn, stop
from fmnist.ops.zombies import HEARTBEAT_SECONDS, ensure_zombie_automation

WORK_POOL = "fmnist-process"
# A run started by hand or by an event (a new batch) waits for the worker's next poll: every 2 s, not Prefect's
# default 10, at the cost of one small query to the API every 2 s. Scheduled runs are fetched ahead of time.
WORKER_QUERY_SECONDS = 2
STATE_FILE = "stack.json"
CLIENT_ENV_FILE = "client.env"
# MLflow's basic-auth app: signed-in users read everything, the admin (the stack's user) does anything. A checked
# password is remembered for 60 s: each check is a salted hash, and a training sends hundreds of requests.
MLFLOW_AUTH_INI = """[mlflow]
default_permission = READ
database_uri = sqlite:///{database}
auth_cache_ttl_seconds = 60
"""
# `down` stops the worker first (it may be running a flow), the servers last.
STOP_ORDER = ("prefect-worker", "mlflow-server", "prefect-server")


@dataclass(frozen=True)
class StackConfig:
    """Where the stack keeps its state and which ports it uses (0: pick a free one)."""

    project_dir: Path
    state_dir: Path
    mlruns_dir: Path
    prefect_port: int = 0
    mlflow_port: int = 0
    start_timeout: float = 180.0


@dataclass
class StackState:
    """What ``up`` started from ``state_dir``: the servers' URLs and the processes, by name."""

    state_dir: str
    prefect_url: str
    mlflow_url: str
    processes: dict[str, Started] = field(default_factory=dict)

    @property
    def prefect_api_url(self) -> str:
        return f"{self.prefect_url}/api"

    def path(self, name: str) -> Path:
        """A file or folder in the state folder: ``prefect-home``, ``client.env``, ``logs/<service>.log``..."""
        return Path(self.state_dir) / name


def read_state(state_dir: Path) -> StackState | None:
    """The state ``up`` recorded in ``state_dir``; None if there is none."""
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        processes = data["processes"].items()
        data["processes"] = {name: Started(int(p["pid"]), float(p["since_boot"])) for name, p in processes}
        return StackState(**data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        why = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise FmnistError(
            f"stack state {path} is damaged ({why}); remove it, and stop by hand any stack process still running"
        ) from None


def project_dir() -> Path:
    """The project folder (the one holding ``prefect.yaml``): the current folder, else the source checkout."""
    import fmnist

    for candidate in (Path.cwd(), Path(fmnist.__file__).resolve().parents[1]):
        if (candidate / "prefect.yaml").is_file() and (candidate / "flows").is_dir():
            return candidate
    raise FmnistError("prefect.yaml not found: run this from the fmnist-pipeline project folder")


def client_env(state: StackState) -> dict[str, str]:
    """Environment for a process that should use this stack (Prefect CLI, worker, tests): URLs and credentials."""
    return {
        **os.environ,
        "PREFECT_HOME": str(state.path("prefect-home")),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **credentials.read(state.path(CLIENT_ENV_FILE)),
    }


def up(config: StackConfig) -> StackState:
    """Start the servers and the worker, create the pool, deploy ``prefect.yaml``; return the state."""
    state_dir = config.state_dir.absolute()
    running = read_state(state_dir)
    if running is not None and any(find(p) for p in running.processes.values()):
        raise FmnistError(f"a stack is already running from {state_dir}; run `fmnist stack down` first")
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    mlruns = config.mlruns_dir.absolute()
    mlruns.mkdir(parents=True, exist_ok=True)
    prefect_port = config.prefect_port or free_port()
    mlflow_port = config.mlflow_port or free_port()
    state = StackState(str(state_dir), f"http://{HOST}:{prefect_port}", f"http://{HOST}:{mlflow_port}")
    client = credentials.fresh(state.prefect_api_url, state.mlflow_url)
    credentials.write(state.path(CLIENT_ENV_FILE), client)
    # MLflow creates the admin from MLFLOW_AUTH_ADMIN_* in a fresh user store only; the old one has old credentials.
    state.path("mlflow-auth.db").unlink(missing_ok=True)
    atomic_write_text(state.path("mlflow-auth.ini"), MLFLOW_AUTH_INI.format(database=state.path("mlflow-auth.db")))
    env = _service_env(state)
    prefect_env = {
        **env,
        "PREFECT_SERVER_API_AUTH_STRING": client["PREFECT_API_AUTH_STRING"],
        "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": state.prefect_url,
    }
    mlflow_env = {
        **env,
        "MLFLOW_AUTH_CONFIG_PATH": str(state.path("mlflow-auth.ini")),
        "MLFLOW_AUTH_ADMIN_USERNAME": client["MLFLOW_TRACKING_USERNAME"],
        "MLFLOW_AUTH_ADMIN_PASSWORD": client["MLFLOW_TRACKING_PASSWORD"],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(32),  # signs the UI's forms
    }
    try:
        _start(config, state, "prefect-server", ["prefect", "server", "start", "--host", HOST,
               "--port", str(prefect_port)], prefect_env)  # fmt: skip
        _start(config, state, "mlflow-server", ["mlflow", "server", "--host", HOST, "--port", str(mlflow_port),
               "--workers", "1", "--backend-store-uri", f"sqlite:///{mlruns / 'mlflow.db'}",
               "--artifacts-destination", str(mlruns / "artifacts"), "--serve-artifacts",
               "--app-name", "basic-auth"], mlflow_env)  # fmt: skip
        deadline = time.monotonic() + config.start_timeout
        _wait_http(state, "prefect-server", f"{state.prefect_api_url}/health", deadline)
        _wait_http(state, "mlflow-server", f"{state.mlflow_url}/health", deadline)
        _prefect(["work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"], env, config.project_dir)
        ensure_zombie_automation(state.prefect_api_url, client["PREFECT_API_AUTH_STRING"])
        deploy_env = {**env, "FMNIST_PROJECT_DIR": str(config.project_dir.absolute())}
        _prefect(["--no-prompt", "deploy", "--all"], deploy_env, config.project_dir)
        start_worker(config, state)
    except BaseException:
        _stop(state)
        raise
    return state


def start_worker(config: StackConfig, state: StackState) -> Started:
    """Start a process worker on the stack's pool (at ``up``, or again after one died) and record it."""
    command = ["prefect", "worker", "start", "--pool", WORK_POOL, "--type", "process"]
    return _start(config, state, "prefect-worker", command, _service_env(state))


def down(state_dir: Path, timeout: float = 20.0) -> list[str]:
    """Stop what ``up`` started from ``state_dir``; return the names of the processes stopped."""
    state = read_state(state_dir)
    return [] if state is None else _stop(state, timeout)


def status(state_dir: Path) -> dict[str, object]:
    """Which of the stack's processes are alive, and the two UI URLs."""
    state = read_state(state_dir)
    if state is None:
        return {"running": False, "processes": {}}
    alive = {name: find(started) is not None for name, started in state.processes.items()}
    return {
        "running": any(alive.values()),
        "processes": alive,
        "prefect_ui": state.prefect_url,
        "mlflow_ui": state.mlflow_url,
        "client_env": str(state.path(CLIENT_ENV_FILE)),
        "logs": {name: str(state.path(f"logs/{name}.log")) for name in state.processes},
    }


def _service_env(state: StackState) -> dict[str, str]:
    # MLflow 3's server also starts job workers (for GenAI features, unused here) that poll and take CPU from trainings.
    env = {**client_env(state), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_SECONDS))
    env.setdefault("PREFECT_WORKER_QUERY_SECONDS", str(WORKER_QUERY_SECONDS))
    return env


def _start(config: StackConfig, state: StackState, name: str, command: list[str], env: dict[str, str]) -> Started:
    """Start one service from this Python's own ``bin`` folder and record it in the state file at once."""
    executable = str(Path(sys.executable).parent / command[0])
    state.processes[name] = spawn([executable, *command[1:]], env, state.path(f"logs/{name}.log"), config.project_dir)
    atomic_write_text(state.path(STATE_FILE), json.dumps(asdict(state), indent=1))
    return state.processes[name]


def _stop(state: StackState, timeout: float = 20.0) -> list[str]:
    """Stop the stack's processes that still run, then remove its state and credentials; return those stopped."""
    stopped = []
    for name in (n for n in STOP_ORDER if n in state.processes):
        process = find(state.processes[name])
        if process is not None:
            stop(process, timeout)
            stopped.append(name)
    for name in (STATE_FILE, CLIENT_ENV_FILE):
        state.path(name).unlink(missing_ok=True)
    return stopped


def _prefect(args: list[str], env: dict[str, str], cwd: Path) -> None:
    command = [str(Path(sys.executable).parent / "prefect"), *args]
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-800:]
        for secret in (env["PREFECT_API_AUTH_STRING"], env["MLFLOW_TRACKING_PASSWORD"]):
            output = output.replace(secret, "***")
        raise FmnistError(f"`prefect {' '.join(args)}` failed: {output}")


def _wait_http(state: StackState, name: str, url: str, deadline: float) -> None:
    """Wait until ``url`` answers 200; fail as soon as the service exits or the deadline passes."""
    while time.monotonic() < deadline and find(state.processes[name]) is not None:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.5)
    raise FmnistError(f"{name} did not answer at {url}; see its log {state.path(f'logs/{name}.log')}")
