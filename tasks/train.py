"""Prefect task: train and score one trial in this process (on a Dask worker: a process of its own)."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from fmnist.train.tracked import TrainSummary, run_trial
from fmnist.train.trial import Trial
from fmnist.train.types import EpochMetrics


@task(name="train-trial", task_run_name="train-{trial.name}", cache_policy=NO_CACHE)
def train_trial_task(
    trial: Trial,
    split_dir: Path,
    preset: str,
    parent_run_id: str,
    checkpoint_root: Path,
    tracking_uri: str,
    experiment: str | None = None,
    max_epochs: int | None = None,
    score_splits: list[str] | None = None,
) -> TrainSummary:
    """Train ``trial`` as a child run of ``parent_run_id`` and score its best checkpoint; log each epoch."""
    logger = get_run_logger()

    def log_epoch(m: EpochMetrics) -> None:
        logger.info(
            "%s epoch %d: train loss %.4f acc %.4f | val loss %.4f acc %.4f | %.1f s",
            trial.name, m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.epoch_seconds,
        )  # fmt: skip

    result = run_trial(
        trial, split_dir, preset, parent_run_id=parent_run_id, checkpoint_root=checkpoint_root,
        tracking_uri=tracking_uri, experiment=experiment, max_epochs=max_epochs, score_splits=score_splits,
        on_epoch_end=log_epoch,
    )  # fmt: skip
    logger.info(
        "%s: best epoch %d, %.1f s in process %d on %s, model %s",
        trial.name, result.best_epoch, result.seconds, result.worker_pid, result.worker_host, result.model_uri,
    )  # fmt: skip
    return result
