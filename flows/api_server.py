"""A temporary Prefect API server for one command, started before Prefect is even imported.

Prefect's embedded ("ephemeral") API starts its server only when the first flow is called, after this process
has imported Prefect, MLflow and the flows (about 2 s), and then waits for it (about 5 s more): the two
costs add up. This module starts the very same server (the command Prefect's ``SubprocessASGIServer`` runs:
uvicorn on Prefect's app factory, UI off, 127.0.0.1, the same settings and database) as the process's first
act, so the server boots on one core while the flow's imports run on the other. Nothing here imports Prefect
(``fmnist.ops.loopback``, for its free-port helper, imports only the socket module).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from fmnist.ops.loopback import HOST, free_port

# uvicorn exits with 3 when the app fails to start: its port was taken meanwhile, or Prefect's start-up failed,
# e.g. another server on the same database was migrating it at that moment.
_STARTUP_FAILED = 3
_RESTARTS = 5


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


class TemporaryApiServer:
    """Prefect's API server in a child process, on a free loopback port, until :meth:`stop`."""

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._app_dir = ""

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    def launch(self) -> None:
        """Start the server process and return at once; :meth:`wait_ready` waits for it to answer."""
        spec = importlib.util.find_spec("prefect")
        if spec is None or spec.origin is None:
            raise RuntimeError("prefect is not installed in this environment")
        self._app_dir = str(Path(spec.origin).parent.parent)
        self.port = free_port()
        self._start()

    def _start(self) -> None:
        # The environment Prefect gives its own embedded server (no UI, marked ephemeral), and no analytics
        # unless the user asks for them: this machine may be offline.
        env = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", **os.environ, "PREFECT_UI_ENABLED": "0",
               "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}  # fmt: skip
        command = [sys.executable, "-m", "uvicorn", "--app-dir", self._app_dir, "--factory",
                   "prefect.server.api.server:create_app", "--host", HOST, "--port", str(self.port),
                   "--log-level", "error", "--lifespan", "on"]  # fmt: skip
        self.process = subprocess.Popen(command, env=env)

    def wait_ready(self, timeout: float) -> None:
        """Block until ``/api/health`` answers 200.

        A server whose start-up failed is started again on the same port (its URL may already be in use by
        the caller's settings), a few times; a port that another process took meanwhile is an error.
        """
        deadline = time.monotonic() + timeout
        restarts = 0
        while time.monotonic() < deadline:
            assert self.process is not None, "launch() first"
            code = self.process.poll()
            if code == _STARTUP_FAILED and restarts < _RESTARTS:
                if not port_is_free(self.port):
                    self.stop()
                    raise RuntimeError(f"port {self.port} was taken before the temporary Prefect API server bound it")
                restarts += 1
                time.sleep(0.5 * restarts)
                self._start()
                continue
            if code is not None:
                raise RuntimeError(f"the temporary Prefect API server exited with code {code} while starting")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"the temporary Prefect API server did not answer within {timeout:.0f} s; raise "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS on a slow machine"
        )

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s, as Prefect does) and reap it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
