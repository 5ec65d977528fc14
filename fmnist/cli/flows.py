"""Run a Prefect flow in this process: ``fmnist run``, ``sweep``, ``ablate`` and ``score-batch`` are the pipeline,
sweep, ablation and batch-scoring flows.

Prefect serves its own ephemeral API for the duration of the command unless ``PREFECT_API_URL`` names a server
(``fmnist stack up`` starts one). The flow's logs go to that API and, with ``--verbose``, to the terminal;
otherwise the terminal shows a live view of the trainings (:mod:`fmnist.cli.live`).
"""

from __future__ import annotations

import fcntl
import importlib
import os
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from fmnist.cli.app import Settings
from fmnist.cli.live import LiveRun
from fmnist.errors import FmnistError, RunFailedError

# --flow NAME → (module, flow function)
FLOWS = {
    "pipeline": ("flows.pipeline", "fmnist_pipeline"),
    "sweep": ("flows.sweep", "fmnist_sweep"),
    "ablation": ("flows.ablation", "fmnist_ablation"),
    "score-batch": ("flows.score_batch", "fmnist_score_batch"),
    "add-batch": ("flows.batches", "fmnist_add_batch"),
    "retrain": ("flows.retrain", "fmnist_retrain"),
}


def quiet_logs() -> None:
    """Keep Prefect's and Dask's INFO lines off the terminal (Prefect's API still records them). Set in the
    environment before either library is imported, so Dask worker processes started from here inherit it."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")


def start_prefect_api() -> None:
    """Without a Prefect server configured, start Prefect's ephemeral API now, one command at a time.

    Every command without ``PREFECT_API_URL`` serves its own API on the database in ``PREFECT_HOME``; commands
    started together on a fresh home would create that database at the same moment, and all but one fail. A file
    lock in the home lets the first create it; the others then find it ready. The API stays up until the command
    exits, and the flow uses it.
    """
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, get_current_settings

    if PREFECT_API_URL.value():
        return
    home = Path(get_current_settings().home)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "fmnist-api-start.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with get_client(sync_client=True) as client:
            client.api_healthcheck()


def run_flow(name: str, params: dict[str, Any], opts: Settings, *, verbose: bool, show: bool) -> dict[str, Any]:
    """Run flow ``name`` (a key of :data:`FLOWS`) with ``params`` and return its summary. With ``show``, a live
    view of its trainings; with ``verbose``, the flow's logs instead."""
    if not verbose:
        quiet_logs()
    # A loaded 2-core machine can take longer than Prefect's default 20 s to start the ephemeral API.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    module, function = FLOWS[name]
    flow = getattr(importlib.import_module(module), function)
    start_prefect_api()
    from fmnist.tracking import tracking_uri

    run_name = f"fmnist-{name}-{uuid.uuid4().hex[:8]}"
    live = show and not verbose and not opts.quiet
    view = LiveRun(opts.console(), tracking_uri(), params.get("experiment"), run_name) if live else nullcontext()
    try:
        with view:
            return flow.with_options(flow_run_name=run_name)(**params)
    except FmnistError:
        raise
    except Exception as exc:
        raise RunFailedError(f"the {name} flow failed: {type(exc).__name__}: {exc}") from exc
