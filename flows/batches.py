"""The ``fmnist-add-batch`` flow: add a labelled batch → re-split → drift checks → the ``fmnist.batch.accepted`` event.

A refused batch (bad file, duplicate) fails the flow before anything is recorded, and no event is sent. The
``retrain-on-new-data`` deployment's trigger (``prefect.yaml``) starts a retrain from the event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from prefect import flow
from prefect.events import emit_event
from pydantic import Field

from flows.trials import prepare_data
from fmnist.data.batch_store import BATCHES_DIR
from fmnist.data.ingest import default_source
from fmnist.evaluate.drift import DriftThresholds
from fmnist.retrain.new_batch import BatchCheck
from fmnist.tracking import tracking_uri
from tasks.batches import add_batch_task, check_batch_task

BATCH_ACCEPTED = "fmnist.batch.accepted"


@flow(name="fmnist-add-batch", log_prints=True)
def fmnist_add_batch(
    source: str,
    data_source: str | None = None,
    work_dir: str = "data",
    seed: Annotated[int, Field(ge=0)] = 42,
    experiment: str | None = None,
    drift_alpha: Annotated[float, Field(gt=0, lt=1)] = DriftThresholds.alpha,
    drift_label_tvd: Annotated[float, Field(ge=0, le=1)] = DriftThresholds.label_tvd,
    drift_feature_ks: Annotated[float, Field(ge=0, le=1)] = DriftThresholds.feature_ks,
    drift_accuracy_drop: Annotated[float, Field(ge=0, le=1)] = DriftThresholds.accuracy_drop,
) -> dict[str, Any]:
    """Validate and record the labelled batch at ``source`` (a PNG folder with labels.csv, a Kaggle-style CSV or an
    IDX pair), check it for drift against the champion's training data, and announce it.

    drift_*: thresholds of the drift checks (fmnist.evaluate.drift.DriftThresholds).
    """
    root = Path(work_dir).absolute()
    data_source = data_source or default_source()
    batches_root = root / BATCHES_DIR
    split_dir = prepare_data(data_source, root, seed)
    added_at = datetime.now(UTC).isoformat(timespec="seconds")
    info = add_batch_task(source, split_dir, batches_root, added_at)
    split_dir = prepare_data(data_source, root, seed)  # now with the new batch: its data version
    thresholds = DriftThresholds(drift_alpha, drift_label_tvd, drift_feature_ks, drift_accuracy_drop)
    check = check_batch_task(tracking_uri(), experiment, split_dir, batches_root, info, thresholds)
    announce(check)
    return {
        "batch": info.id,
        "rows": info.rows,
        "train_rows": info.train_rows,
        "recent_rows": info.recent_rows,
        "data_version": check.data_version,
        "drift": check.drift.status,
        "reasons": check.drift.reasons,
        "metrics": check.drift.metrics,
        "run_id": check.run_id,
    }


def announce(check: BatchCheck) -> None:
    """Emit ``fmnist.batch.accepted`` for the batch (resource ``fmnist.batch.<id>``)."""
    emit_event(
        event=BATCH_ACCEPTED,
        resource={"prefect.resource.id": f"fmnist.batch.{check.batch.id}", "prefect.resource.name": check.batch.id},
        payload={
            "batch": check.batch.id,
            "rows": check.batch.rows,
            "data_version": check.data_version,
            "drift": check.drift.status,
            "reasons": check.drift.reasons,
        },
    )
