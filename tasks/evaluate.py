"""Prefect task: score both frameworks from MLflow and log the comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from fmnist.evaluate.scoring import Evaluation, evaluate, evaluate_seeds
from fmnist.tracking import Tracker


@task(name="evaluate", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def evaluate_task(tracking_uri: str, experiment: str | None, parent_run_id: str, child_runs: dict[str, str],
                  split_dir: Path, scored: dict[str, Any] | None = None) -> Evaluation:  # fmt: skip
    """Evaluate every framework's best checkpoint; publish the comparison table as a Prefect artifact."""
    result = evaluate(Tracker(tracking_uri, experiment), parent_run_id, child_runs, split_dir, scored=scored)
    get_run_logger().info(result.verdict)
    create_markdown_artifact(result.markdown, key="fmnist-comparison", description=result.verdict)
    return result


@task(name="evaluate-seeds", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def evaluate_seeds_task(tracking_uri: str, experiment: str | None, parent_run_id: str,
                        runs: dict[str, dict[int, str]], split_dir: Path,
                        scored: dict[str, Any] | None = None) -> Evaluation:  # fmt: skip
    """Multi-seed mode: evaluate every (framework, seed) run and compare across seeds."""
    result = evaluate_seeds(Tracker(tracking_uri, experiment), parent_run_id, runs, split_dir, scored=scored)
    get_run_logger().info(result.verdict)
    create_markdown_artifact(result.markdown, key="fmnist-comparison", description=result.verdict)
    return result
