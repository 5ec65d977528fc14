"""Run a flow in this process on Prefect's embedded API: ``python -m flows.run [--flow NAME] --params JSON``.

``fmnist run`` and ``fmnist sweep`` call this in a child process (the library itself never imports Prefect).
Parameters come as one JSON object; the last line printed is the flow's JSON summary.

With no Prefect API configured, the embedded API server is started first thing (``flows.api_server``), so that
it boots while the flows are imported, and it is stopped when this process exits.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import sys

from flows.api_server import TemporaryApiServer
from fmnist.summary_line import summary_line

# Offline-friendly defaults, set before Prefect reads its settings: no analytics, and a generous start-up
# time for the embedded server on a busy 2-core machine.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# --flow NAME → (module, flow function)
FLOWS = {"pipeline": ("flows.pipeline", "fmnist_pipeline"), "sweep": ("flows.sweep", "fmnist_sweep")}


# Set in the environment of a re-executed run that must use Prefect's own settings, not a temporary server.
_NO_TEMPORARY_SERVER = "FMNIST_NO_TEMPORARY_API_SERVER"


def api_configured_elsewhere() -> bool:
    """Whether Prefect's settings, apart from this process's ``PREFECT_API_URL``, name an API (a profile,
    ``prefect.toml``, ``.env``) or forbid an embedded one."""
    from prefect.settings import Settings

    ours = os.environ.pop("PREFECT_API_URL")
    try:
        settings = Settings()
    finally:
        os.environ["PREFECT_API_URL"] = ours
    return bool(settings.api.url) or not settings.server.ephemeral.enabled


def start_temporary_server() -> TemporaryApiServer:
    """Start the embedded API server now and point Prefect (and every child process) at it.

    ``PREFECT_API_URL`` must be set before Prefect is imported: Prefect builds its settings once, at import.
    """
    server = TemporaryApiServer()
    server.launch()
    # Registered before Prefect is imported, so it runs after Prefect's own exit handlers (last in, first
    # out), which still send the last logs and events to this server.
    atexit.register(server.stop)
    os.environ["PREFECT_API_URL"] = server.api_url
    # No UI is served and the server stops with this command: no "View at" links to it, as with Prefect's own
    # embedded server.
    os.environ["PREFECT_UI_URL"] = ""
    if api_configured_elsewhere():
        start_over(server, "Prefect's settings name another API")
    return server


def wait_for(server: TemporaryApiServer) -> None:
    """Wait for what is left of the server's start-up (the flows were imported meanwhile)."""
    from prefect.settings import get_current_settings

    try:
        server.wait_ready(timeout=get_current_settings().server.ephemeral.startup_timeout_seconds)
    except RuntimeError as exc:
        start_over(server, str(exc))


def start_over(server: TemporaryApiServer, why: str) -> None:
    """Stop ``server`` and run this command again without one: Prefect then decides as usual (its own
    embedded server, or the API its settings name)."""
    server.stop()
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_URL")}
    env[_NO_TEMPORARY_SERVER] = why
    os.execve(sys.executable, [sys.executable, "-m", "flows.run", *sys.argv[1:]], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flow", choices=sorted(FLOWS), default="pipeline")
    parser.add_argument("--params", default="{}", help="flow parameters as a JSON object")
    args = parser.parse_args()
    server = None
    if not os.environ.get("PREFECT_API_URL") and not os.environ.get(_NO_TEMPORARY_SERVER):
        server = start_temporary_server()
    module, name = FLOWS[args.flow]
    flow = getattr(importlib.import_module(module), name)
    if server is not None:
        wait_for(server)
    summary = flow(**json.loads(args.params))
    print(summary_line(summary), flush=True)


if __name__ == "__main__":
    main()
