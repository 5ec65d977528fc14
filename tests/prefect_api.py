"""A Prefect server's REST API, as the tests read it: the end-to-end stack's server, or the test harness's."""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import httpx

from tests.eventually import eventually

FINAL_STATE_TYPES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


class TaskRun(NamedTuple):
    """One task run: its name, and its state's type and name (None while the server has no state for it yet)."""

    name: str
    state_type: str | None
    state_name: str | None

    @property
    def task(self) -> str:
        """The run's name less its last ``-suffix``: the task's name (``ingest-a1b`` → ``ingest``)."""
        return self.name.rsplit("-", 1)[0]


def api(api_url: str, method: str, path: str, body: dict | None = None, auth: str | None = None) -> object:
    """The JSON answer of one request to the Prefect API at ``api_url``, which may require an auth string
    (``user:password``, Prefect's ``PREFECT_API_AUTH_STRING``); raises on an HTTP error status."""
    basic = tuple(auth.split(":", 1)) if auth else None
    response = httpx.request(method, f"{api_url}{path}", json=body, timeout=30, auth=basic)
    response.raise_for_status()
    return response.json()


def task_runs(api_url: str, flow_run_id: str, auth: str | None = None) -> list[TaskRun]:
    """The task runs of a flow run and of its sub-flow runs (the trials run in one). The API can list a task run
    whose state is still null."""
    query = {"flow_runs": {"parent_flow_run_id": {"any_": [flow_run_id]}}}
    ids = [flow_run_id, *(f["id"] for f in api(api_url, "POST", "/flow_runs/filter", query, auth))]  # type: ignore[union-attr]
    runs = api(api_url, "POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": ids}}}, auth)
    return [
        TaskRun(t["name"], (t["state"] or {}).get("type"), (t["state"] or {}).get("name"))
        for t in runs  # type: ignore[union-attr]
    ]


def final_task_runs(
    api_url: str, flow_run_id: str, names: Collection[str], timeout: float = 30, auth: str | None = None
) -> list[TaskRun]:
    """The task runs of a flow run, once every one has a final state and each of ``names`` (a run's name or its
    task's) has a run. The server records task run states from the events the flow run sends, so they can land
    after the flow run's own final state."""

    def settled(runs: list[TaskRun]) -> bool:
        listed = {run.name for run in runs} | {run.task for run in runs}
        return set(names) <= listed and all(run.state_type in FINAL_STATE_TYPES for run in runs)

    return eventually(
        f"final states of the task runs {sorted(names)}",
        lambda: task_runs(api_url, flow_run_id, auth),
        settled,
        timeout=timeout,
        ignore=(httpx.HTTPError,),
    )


def final_task_states(
    api_url: str, flow_run_id: str, names: Collection[str], auth: str | None = None
) -> dict[str, str | None]:
    """Task name → state name, from :func:`final_task_runs`."""
    return {run.task: run.state_name for run in final_task_runs(api_url, flow_run_id, names, auth=auth)}
