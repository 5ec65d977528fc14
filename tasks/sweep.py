"""Prefect task of a sweep: compare the scored trials."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from fmnist.experiments.sweep import SweepEvaluation, evaluate_sweep
from fmnist.tracking import Tracker
from fmnist.train.tracked import TrainSummary


@task(name="evaluate-sweep", retries=2, retry_delay_seconds=[5, 30])
def evaluate_sweep_task(
    tracking_uri: str, experiment: str | None, parent_run_id: str, results: list[TrainSummary]
) -> SweepEvaluation:
    """Compare the scored trials and log the sweep's table to the parent run; publish it as a Prefect artifact."""
    evaluation = evaluate_sweep(Tracker(tracking_uri, experiment), parent_run_id, results)
    get_run_logger().info("best grid point per framework: %s", evaluation.best)
    create_markdown_artifact(evaluation.markdown, key="fmnist-sweep", description="Sweep: mean ± std over seeds")
    return evaluation
