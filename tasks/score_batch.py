"""Prefect task: score a batch of images with a registered model and log the summary to MLflow."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, runtime, task
from prefect.cache_policies import NO_CACHE

from fmnist.serve.batch_scoring import BatchScore, score_batch


# No retries: a retry would log a second scoring run; a failed one is marked FAILED in MLflow and leaves no files.
@task(name="score-batch", cache_policy=NO_CACHE)
def score_batch_task(
    source: Path, model_uri: str, out_dir: Path | None, threshold: float, experiment: str | None
) -> BatchScore:
    """Score ``source`` with ``model_uri``, write the predictions to ``out_dir``; the MLflow run is tagged with
    the flow run."""
    tags = {"prefect.flow_run_id": str(runtime.flow_run.id), "prefect.flow_run_name": str(runtime.flow_run.name)}
    result = score_batch(source, out_dir, model_uri=model_uri, threshold=threshold, experiment=experiment, tags=tags)
    get_run_logger().info(
        "%d images scored with %s (version %s): mean confidence %.3f, %.1f %% below %.2f; files in %s",
        result.summary.images, model_uri, result.model_version or "-", result.summary.mean_confidence,
        100 * result.summary.low_confidence_share, threshold, result.out_dir,
    )  # fmt: skip
    return result
