"""Prefect task: train and score one trial in this process (on a Dask worker: a process of its own)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from fmnist.train.loop import EpochMetrics
from fmnist.train.tracked import TrainSummary, run_trial
from fmnist.train.trial import Trial, TrialSetup


@task(name="train-trial", task_run_name="train-{trial.name}", cache_policy=NO_CACHE)
def train_trial_task(trial: Trial, setup: TrialSetup) -> TrainSummary:
    """Train ``trial`` as a child run of the setup's parent run and score its best checkpoint; log each epoch."""
    logger = get_run_logger()

    def log_epoch(m: EpochMetrics) -> None:
        logger.info(
            "%s epoch %d: train loss %.4f acc %.4f | val loss %.4f acc %.4f | %.1f s",
            trial.name, m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.epoch_seconds,
        )  # fmt: skip

    result = run_trial(trial, setup, on_epoch_end=log_epoch)
    logger.info(
        "%s: best epoch %d, %.1f s in process %d on %s, model %s",
        trial.name, result.best_epoch, result.seconds, result.worker_pid, result.worker_host, result.model_uri,
    )  # fmt: skip
    return result
