"""The Prefect server's REST API, as the end-to-end tests read it."""

from __future__ import annotations

from collections.abc import Collection

import httpx

from fmnist.stack import StackState
from tests.eventually import eventually

FINAL_STATE_TYPES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


def api(state: StackState, method: str, path: str, body: dict | None = None) -> object:
    """The JSON answer of one request to the stack's Prefect API; raises on an HTTP error status."""
    response = httpx.request(method, f"{state.prefect_api_url}{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def task_runs(state: StackState, flow_run_id: str) -> list[tuple[str, str | None, str | None]]:
    """(task name, state type, state name) of each task run of a flow run. The task name is the run's name less
    its last ``-suffix``. The API can list a task run whose state is still null: its type and name are None."""
    runs = api(state, "POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})
    return [
        (t["name"].rsplit("-", 1)[0], (t["state"] or {}).get("type"), (t["state"] or {}).get("name"))
        for t in runs  # type: ignore[union-attr]
    ]


def final_task_states(state: StackState, flow_run_id: str, names: Collection[str], timeout: float = 30) -> dict:
    """Task name → state name, once every task run of the flow run has a final state and every one of ``names``
    has a run. The server records task run states from the events the flow run sends, so they can land after
    the flow run's own final state."""
    runs = eventually(
        f"final states of the task runs {sorted(names)}",
        lambda: task_runs(state, flow_run_id),
        lambda runs: set(names) <= {n for n, _, _ in runs} and all(t in FINAL_STATE_TYPES for _, t, _ in runs),
        timeout=timeout,
        ignore=(httpx.HTTPError,),
    )
    return {name: state_name for name, _, state_name in runs}
