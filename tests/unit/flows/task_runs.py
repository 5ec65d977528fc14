"""The task runs of a flow run, read from the test harness's Prefect server once they have settled."""

from __future__ import annotations

from collections.abc import Collection

from tests.eventually import eventually


def final_task_runs(flow_run_id: str, names: Collection[str], timeout: float = 30) -> list:
    """The task runs of a flow run, once every one has a final state and each of ``names`` has a run: a run's name,
    or its name less the last ``-suffix``. The server records task run states from the events the flow run
    sends, so they can land after the flow run's own final state."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    def fetch() -> list:
        with get_client(sync_client=True) as client:
            return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))

    def settled(runs: list) -> bool:
        listed = {run.name for run in runs} | {run.name.rsplit("-", 1)[0] for run in runs}
        return set(names) <= listed and all(run.state is not None and run.state.is_final() for run in runs)

    return eventually(f"final states of the task runs {sorted(names)}", fetch, settled, timeout=timeout)
