"""Prefect tasks of the retraining loop: add a labelled batch, check it for drift, decide whether to retrain."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from fmnist.data.batch_store import BatchInfo
from fmnist.data.manifest import read_manifest
from fmnist.evaluate.drift import DriftThresholds
from fmnist.retrain.decision import RetrainCheck
from fmnist.retrain.new_batch import BatchCheck, add_batch, check_batch
from fmnist.retrain.status import champion_retrain_check, record_retrain_check
from fmnist.tracking import Tracker


# No retries: a bad or duplicate batch is refused the same way every time, and an accepted one must not be
# accepted twice.
@task(name="add-batch", cache_policy=NO_CACHE)
def add_batch_task(source: str, split_dir: Path, batches_root: Path, added_at: str) -> BatchInfo:
    """Validate the batch at ``source``, refuse duplicates, record it; return what was recorded."""
    info = add_batch(Path(source), split_dir, batches_root, added_at)
    get_run_logger().info("accepted batch %s: %d images (%d for training)", info.id, info.rows, info.train_rows)
    return info


@task(name="check-drift", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def check_batch_task(
    tracking_uri: str,
    experiment: str | None,
    split_dir: Path,
    batches_root: Path,
    info: BatchInfo,
    thresholds: DriftThresholds,
) -> BatchCheck:
    """Check the batch for drift against the champion's training data; log it to MLflow and as an artifact."""
    version = read_manifest(split_dir, verify=False).data_version
    result = check_batch(Tracker(tracking_uri, experiment), split_dir, batches_root, info, version, thresholds)
    create_markdown_artifact(
        result.drift.markdown(info.id), key=f"fmnist-drift-{info.sequence}", description=result.drift.status
    )
    get_run_logger().info("batch %s: %s", info.id, "; ".join(result.drift.reasons) or "no drift")
    return result


@task(name="retrain-check", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def retrain_check_task(tracking_uri: str, experiment: str | None, split_dir: Path, trigger: str) -> RetrainCheck:
    """Whether the data changed since the champion was trained; recorded as an MLflow run either way."""
    tracker = Tracker(tracking_uri, experiment)
    check = champion_retrain_check(tracker, read_manifest(split_dir, verify=False))
    record_retrain_check(tracker, check, trigger)
    get_run_logger().info(check.reason)
    return check
