"""Prefect tasks around the MLflow parent run of a pipeline execution."""

from __future__ import annotations

from typing import Any

from prefect import runtime, task
from prefect.artifacts import create_link_artifact

from fmnist.tracking import Tracker, tracking_uri

TRACKING_RETRIES = {"retries": 3, "retry_delay_seconds": [2, 8, 30]}


@task(name="start-tracking", **TRACKING_RETRIES)
def start_parent_run_task(params: dict[str, Any], experiment: str | None = None) -> tuple[str, str]:
    """Open the pipeline's MLflow parent run, tagged with the Prefect flow run; return (uri, run id)."""
    uri = tracking_uri()
    tracker = Tracker(uri, experiment)
    ui_url = runtime.flow_run.ui_url or ""
    tags = {
        "prefect.flow_run_id": str(runtime.flow_run.id),
        "prefect.flow_run_name": str(runtime.flow_run.name),
        "prefect.deployment": str(runtime.deployment.name or ""),
        # Only a full URL: an embedded API serves no UI, and Prefect then gives a bare path.
        "prefect.flow_run_url": ui_url if ui_url.startswith(("http://", "https://")) else "",
    }
    # Idempotent: a retry (of this task or of the whole flow run) reopens the parent run it already created.
    run_id = tracker.start_parent(f"{runtime.flow_run.name}", tags, key="prefect.flow_run_id")
    tracker.log_params(run_id, params)
    url = tracker.run_url(run_id)
    if url:
        create_link_artifact(url, link_text=f"MLflow run {run_id}", description="The MLflow parent run")
    return uri, run_id


@task(name="finish-tracking", **TRACKING_RETRIES)
def finish_parent_run_task(
    uri: str, run_id: str, status: str = "FINISHED", timings: dict[str, float] | None = None
) -> None:
    """Log the per-stage timings (``timing/<stage>``) and close the parent run."""
    Tracker(uri).finish_parent(run_id, status, timings)
