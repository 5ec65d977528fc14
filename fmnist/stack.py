"""The local stack: a Prefect server, an MLflow server and a Prefect process worker, on 127.0.0.1.

``up`` starts each service as its own process session (so it outlives the command), waits until it answers,
creates the work pool, deploys ``prefect.yaml`` and records what it started in ``<state_dir>/stack.json``;
``down`` stops exactly those processes (SIGTERM, then SIGKILL after a timeout). Everything talks to Prefect
and MLflow through their command lines and HTTP, so this module imports neither.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fmnist.atomic import atomic_write_text
from fmnist.errors import FmnistError

HOST = "127.0.0.1"
# A flow run sends a heartbeat this often; one that stops without a final state (its worker died) is marked
# Crashed by the automation below after this long. Prefect 3.9's server has no such detection built in.
HEARTBEAT_SECONDS = 30
ZOMBIE_AFTER_SECONDS = 75
ZOMBIE_AUTOMATION_NAME = "fmnist: crash zombie flow runs"
WORK_POOL = "fmnist-process"
STATE_FILE = "stack.json"


@dataclass(frozen=True)
class StackConfig:
    """Where the stack keeps its state and which ports it uses (0: pick a free one)."""

    project_dir: Path
    state_dir: Path
    mlruns_dir: Path
    prefect_port: int = 0
    mlflow_port: int = 0
    start_timeout: float = 180.0
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class StackState:
    """What ``up`` started: process ids, URLs and log files."""

    prefect_url: str
    mlflow_url: str
    pids: dict[str, int]
    logs: dict[str, str]
    prefect_home: str

    @property
    def prefect_api_url(self) -> str:
        return f"{self.prefect_url}/api"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def project_dir() -> Path:
    """The project folder (the one holding ``prefect.yaml``): the current folder, else the source checkout."""
    import fmnist

    for candidate in (Path.cwd(), Path(fmnist.__file__).resolve().parents[1]):
        if (candidate / "prefect.yaml").is_file() and (candidate / "flows").is_dir():
            return candidate
    raise FmnistError("prefect.yaml not found: run this from the fmnist-pipeline project folder")


def client_env(state: StackState) -> dict[str, str]:
    """Environment for a process that should use this stack (Prefect CLI, worker, tests)."""
    return {
        **os.environ,
        "PREFECT_API_URL": state.prefect_api_url,
        "PREFECT_HOME": state.prefect_home,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MLFLOW_TRACKING_URI": state.mlflow_url,
    }


def up(config: StackConfig) -> StackState:
    """Start the servers and the worker, create the pool, deploy ``prefect.yaml``; return the state."""
    state_dir = config.state_dir.absolute()
    if read_state(state_dir) is not None and status(state_dir)["running"]:
        raise FmnistError(f"a stack is already running from {state_dir}; run `fmnist stack down` first")
    logs_dir = state_dir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    mlruns = config.mlruns_dir.absolute()
    mlruns.mkdir(parents=True, exist_ok=True)
    prefect_port = config.prefect_port or free_port()
    mlflow_port = config.mlflow_port or free_port()
    state = StackState(
        prefect_url=f"http://{HOST}:{prefect_port}",
        mlflow_url=f"http://{HOST}:{mlflow_port}",
        pids={},
        logs={},
        prefect_home=str(state_dir / "prefect-home"),
    )
    env = _service_env(config, state)
    bin_dir = Path(sys.executable).parent
    try:
        _spawn(state, "prefect-server", [str(bin_dir / "prefect"), "server", "start", "--host", HOST,
               "--port", str(prefect_port)], env, logs_dir, config.project_dir)  # fmt: skip
        _spawn(state, "mlflow-server", [str(bin_dir / "mlflow"), "server", "--host", HOST, "--port", str(mlflow_port),
               "--workers", "1", "--backend-store-uri", f"sqlite:///{mlruns / 'mlflow.db'}",
               "--artifacts-destination", str(mlruns / "artifacts"), "--serve-artifacts"],
               env, logs_dir, config.project_dir)  # fmt: skip
        _save(state_dir, state)
        deadline = time.monotonic() + config.start_timeout
        _wait_http(f"{state.prefect_api_url}/health", deadline, "Prefect server", state.logs["prefect-server"])
        _wait_http(f"{state.mlflow_url}/health", deadline, "MLflow server", state.logs["mlflow-server"])
        prefect = str(bin_dir / "prefect")
        _run([prefect, "work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"], env, config.project_dir)
        _ensure_zombie_automation(state)
        deploy_env = {**env, "FMNIST_PROJECT_DIR": str(config.project_dir.absolute())}
        _run([prefect, "--no-prompt", "deploy", "--all"], deploy_env, config.project_dir)
        start_worker(config, state)
    except BaseException:
        _stop_all(state)
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        raise
    return state


def start_worker(config: StackConfig, state: StackState) -> int:
    """Start a process worker on the stack's pool (at ``up``, or again after one died); record it in the
    state file; return its pid."""
    state_dir = config.state_dir.absolute()
    prefect = str(Path(sys.executable).parent / "prefect")
    _spawn(state, "prefect-worker", [prefect, "worker", "start", "--pool", WORK_POOL, "--type", "process"],
           _service_env(config, state), state_dir / "logs", config.project_dir)  # fmt: skip
    _save(state_dir, state)
    return state.pids["prefect-worker"]


def _service_env(config: StackConfig, state: StackState) -> dict[str, str]:
    # MLflow 3's server also starts job workers (for GenAI features this project does not use) that poll
    # all the time; on a 2-core machine they take CPU from the trainings.
    env = {**client_env(state), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **config.extra_env}
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_SECONDS))
    return env


def zombie_automation() -> dict[str, object]:
    """Prefect's documented "zombie flow run" automation: no heartbeat and no final state in time → Crashed."""
    return {
        "name": ZOMBIE_AUTOMATION_NAME,
        "description": "A flow run whose heartbeats stop without a final state (its worker died) is marked Crashed.",
        "enabled": True,
        "trigger": {
            "type": "event",
            "posture": "Proactive",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "after": ["prefect.flow-run.heartbeat"],
            "expect": [
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            ],
            "for_each": ["prefect.resource.id"],
            "threshold": 1,
            "within": ZOMBIE_AFTER_SECONDS,
        },
        "actions": [
            {
                "type": "change-flow-run-state",
                "state": "CRASHED",
                "message": "Flow run crashed: its heartbeats stopped.",
            }
        ],
    }


def _ensure_zombie_automation(state: StackState) -> None:
    existing = _post_json(f"{state.prefect_api_url}/automations/filter", {})
    if not any(a.get("name") == ZOMBIE_AUTOMATION_NAME for a in existing):
        _post_json(f"{state.prefect_api_url}/automations/", zombie_automation())


def _post_json(url: str, body: object) -> list[dict[str, object]] | dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # a loopback URL this module built
        return json.loads(response.read() or b"null")


def down(state_dir: Path, timeout: float = 20.0) -> list[str]:
    """Stop what ``up`` started from ``state_dir``; return the names of the processes stopped."""
    state = read_state(state_dir)
    if state is None:
        return []
    stopped = _stop_all(state, timeout)
    (Path(state_dir) / STATE_FILE).unlink(missing_ok=True)
    return stopped


def status(state_dir: Path) -> dict[str, object]:
    """Which of the stack's processes are alive, and the two UI URLs."""
    state = read_state(state_dir)
    if state is None:
        return {"running": False, "processes": {}}
    alive = {name: _alive(pid) for name, pid in state.pids.items()}
    return {
        "running": any(alive.values()),
        "processes": alive,
        "prefect_ui": state.prefect_url,
        "mlflow_ui": state.mlflow_url,
        "logs": state.logs,
    }


def read_state(state_dir: Path) -> StackState | None:
    path = Path(state_dir) / STATE_FILE
    if not path.is_file():
        return None
    return StackState(**json.loads(path.read_text()))


def _save(state_dir: Path, state: StackState) -> None:
    atomic_write_text(Path(state_dir) / STATE_FILE, json.dumps(asdict(state), indent=1))


def _spawn(state: StackState, name: str, command: list[str], env: dict[str, str], logs: Path, cwd: Path) -> None:
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        # A new session: the service outlives this command, and `down` can stop its whole process group.
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip
    state.pids[name] = process.pid
    state.logs[name] = str(log)


def _run(command: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise FmnistError(f"`{' '.join(command[-4:])}` failed: {(done.stderr or done.stdout).strip()[-800:]}")


def _wait_http(url: str, deadline: float, what: str, log: str) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise FmnistError(f"{what} did not answer at {url} in time; see its log {log}")


def _alive(pid: int) -> bool:
    if pid <= 0:  # 0 and negatives address process groups (ours included), never one recorded service
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as stopped.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _stop_all(state: StackState, timeout: float = 20.0) -> list[str]:
    # Worker first (it may be running a flow), the servers last.
    order = [n for n in ("prefect-worker", "mlflow-server", "prefect-server") if n in state.pids]
    stopped = []
    for name in order:
        pid = state.pids[name]
        if not _alive(pid):
            continue
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
        _reap(pid)
        stopped.append(name)
    return stopped


def _signal_group(pid: int, sig: int) -> None:
    if pid <= 0:  # killpg(0) would signal our own process group
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # the session leader's group: the service and any children it started


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
