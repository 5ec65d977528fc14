"""The ``fmnist-retrain`` flow: retrain only when the data changed since the champion was trained.

Prepare the data (base release plus accepted batches) → compare its version with the champion's → either end at once,
Completed, with the reason as the state's message (and an MLflow run saying so), or run the pipeline on it
(docs/retraining.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from prefect import flow
from prefect.states import Completed, State
from pydantic import Field

from flows.pipeline import fmnist_pipeline
from flows.trials import prepare_data
from fmnist.config import PresetName
from fmnist.data.ingest import default_source
from fmnist.experiments.cluster import ClusterSpec
from fmnist.tracking import tracking_uri
from tasks.batches import retrain_check_task


@flow(name="fmnist-retrain", log_prints=True)
def fmnist_retrain(
    data_source: str | None = None,
    preset: PresetName = "tuned",
    max_epochs: Annotated[int, Field(ge=1, le=500)] | None = None,
    seed: Annotated[int, Field(ge=0)] = 42,
    work_dir: str = "data",
    experiment: str | None = None,
    cluster: ClusterSpec | None = None,
    trigger: str = "manual",
    force: bool = False,
) -> dict[str, Any] | State:
    """Retrain Keras and PyTorch on the base release plus every accepted batch, if the data changed since the
    champion was trained (or ``force``); otherwise finish at once and say why.

    trigger: what started this run (the schedule, a batch's event, by hand); recorded with the decision.
    """
    data_source = data_source or default_source()
    root = Path(work_dir).absolute()
    split_dir = prepare_data(data_source, root, seed)
    check = retrain_check_task(tracking_uri(), experiment, split_dir, trigger)
    if not check.needed and not force:
        skipped = {"retrained": False, "reason": check.reason, "data_version": check.data_version}
        return Completed(message=f"not retrained: {check.reason}", data=skipped)
    print(f"retraining: {check.reason if check.needed else 'forced'}")
    return fmnist_pipeline(
        data_source=data_source, preset=preset, max_epochs=max_epochs, seed=seed, work_dir=work_dir,
        experiment=experiment, cluster=cluster,
    )  # fmt: skip
