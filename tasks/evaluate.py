"""Prefect task: compare the frameworks from their scored trials and log the comparison."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from fmnist.evaluate.pipeline import evaluate_trials
from fmnist.evaluate.scoring import Evaluation
from fmnist.tracking import Tracker
from fmnist.train.tracked import TrainSummary


@task(name="evaluate", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def evaluate_task(
    tracking_uri: str,
    experiment: str | None,
    parent_run_id: str,
    results: list[TrainSummary],
    split_dir: Path,
    equivalence_margin: float,
) -> Evaluation:
    """Compare the trained frameworks; publish the comparison table as a Prefect artifact."""
    tracker = Tracker(tracking_uri, experiment)
    result = evaluate_trials(tracker, parent_run_id, results, split_dir, equivalence_margin)
    get_run_logger().info(result.verdict)
    create_markdown_artifact(result.markdown, key="fmnist-comparison", description=result.verdict)
    return result
