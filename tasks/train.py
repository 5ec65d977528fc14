"""Prefect task: train one framework in its own process, logging to MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from fmnist.isolation import run_isolated
from fmnist.train.tracked import TrainSummary, train_preset
from fmnist.train.types import EpochMetrics


@task(name="train", task_run_name="train-{run_name}", cache_policy=NO_CACHE)
def train_task(
    framework: str,
    split_dir: Path,
    preset: str,
    parent_run_id: str,
    checkpoint_root: Path,
    tracking_uri: str,
    experiment: str | None = None,
    overrides: dict[str, Any] | None = None,
    run_name: str | None = None,
    score: bool = True,
) -> TrainSummary:
    """Train ``framework`` in a fresh process (one core each, so two trainings run side by side); with
    ``score``, that process also scores the best checkpoint, reloaded from MLflow, on every split."""
    logger = get_run_logger()

    def log_epoch(m: EpochMetrics) -> None:
        logger.info(
            "%s epoch %d: train loss %.4f acc %.4f | val loss %.4f acc %.4f | %.1f s",
            framework, m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.epoch_seconds,
        )  # fmt: skip

    kwargs = {
        "framework": framework,
        "split_dir": split_dir,
        "preset": preset,
        "parent_run_id": parent_run_id,
        "checkpoint_root": checkpoint_root,
        "tracking_uri": tracking_uri,
        "experiment": experiment,
        "overrides": overrides,
        "run_name": run_name,
        "score": score,
    }
    summary = run_isolated(train_preset, kwargs, progress_kw="on_epoch_end", on_progress=log_epoch)
    logger.info("%s: best epoch %d, model %s", framework, summary.best_epoch, summary.model_uri)
    return summary
