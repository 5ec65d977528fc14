"""Prefect tasks of a sweep: train one trial (on whichever worker the task runner picks), score them all."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from fmnist.experiments.sweep import SweepEvaluation, Trial, TrialResult, evaluate_sweep, run_trial
from fmnist.tracking import Tracker


@task(name="train-trial", task_run_name="trial-{trial.name}")
def train_trial_task(
    trial: Trial,
    split_dir: Path,
    preset: str,
    parent_run_id: str,
    checkpoint_root: Path,
    tracking_uri: str,
    experiment: str | None = None,
    max_epochs: int | None = None,
) -> TrialResult:
    """Train and score one trial in this process: on a Dask worker that is a process of its own with one
    thread."""
    result = run_trial(
        trial, split_dir, preset, parent_run_id=parent_run_id, checkpoint_root=checkpoint_root,
        tracking_uri=tracking_uri, experiment=experiment, max_epochs=max_epochs,
    )  # fmt: skip
    get_run_logger().info(
        "%s: best epoch %d, %.1f s in process %d on %s",
        trial.name, result.best_epoch, result.seconds, result.worker_pid, result.worker_host,
    )  # fmt: skip
    return result


@task(name="evaluate-sweep", retries=2, retry_delay_seconds=[5, 30])
def evaluate_sweep_task(
    tracking_uri: str, experiment: str | None, parent_run_id: str, results: list[TrialResult]
) -> SweepEvaluation:
    """Compare the scored trials and log the sweep's table to the parent run; publish it as a Prefect artifact."""
    evaluation = evaluate_sweep(Tracker(tracking_uri, experiment), parent_run_id, results)
    get_run_logger().info("best grid point per framework: %s", evaluation.best)
    create_markdown_artifact(evaluation.markdown, key="fmnist-sweep", description="Sweep: mean ± std over seeds")
    return evaluation
