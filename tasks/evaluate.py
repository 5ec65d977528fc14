"""Prefect tasks that compare a pipeline's, a sweep's or an ablation's scored trials, logged to MLflow and
published as a Prefect artifact."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from fmnist.evaluate.scoring import Evaluation
from fmnist.experiments.ablation import AblationEvaluation, effect_rows, evaluate_ablation
from fmnist.experiments.factors import select_factors
from fmnist.experiments.pipeline import evaluate_pipeline
from fmnist.experiments.sweep import SweepEvaluation, evaluate_sweep
from fmnist.tracking import Tracker
from fmnist.train.tracked import TrainSummary
from fmnist.train.trial import Trial

RETRIES = {"retries": 2, "retry_delay_seconds": [5, 30]}


@task(name="evaluate", cache_policy=NO_CACHE, **RETRIES)
def evaluate_task(
    tracking_uri: str,
    experiment: str | None,
    parent_run_id: str,
    results: list[TrainSummary],
    split_dir: Path,
    equivalence_margin: float,
) -> Evaluation:
    """Compare the trained frameworks."""
    result = evaluate_pipeline(Tracker(tracking_uri, experiment), parent_run_id, results, split_dir, equivalence_margin)
    get_run_logger().info(result.verdict)
    create_markdown_artifact(result.markdown, key="fmnist-comparison", description=result.verdict)
    return result


@task(name="evaluate-sweep", **RETRIES)
def evaluate_sweep_task(
    tracking_uri: str, experiment: str | None, parent_run_id: str, results: list[TrainSummary]
) -> SweepEvaluation:
    """Compare the grid points."""
    evaluation = evaluate_sweep(Tracker(tracking_uri, experiment), parent_run_id, results)
    get_run_logger().info("best grid point per framework: %s", evaluation.best)
    create_markdown_artifact(evaluation.markdown, key="fmnist-sweep", description="Sweep: mean ± std over seeds")
    return evaluation


@task(name="evaluate-ablation", **RETRIES)
def evaluate_ablation_task(
    tracking_uri: str,
    experiment: str | None,
    parent_run_id: str,
    planned: list[Trial],
    results: list[TrainSummary],
    factors: Sequence[str],
    margin: float,
) -> AblationEvaluation:
    """Estimate the effect of every factor; warn of every trial missing from the table."""
    evaluation = evaluate_ablation(
        Tracker(tracking_uri, experiment), parent_run_id, planned, results, select_factors(factors), margin
    )
    if missing := evaluation.missing:
        get_run_logger().warning("%d trial(s) missing from the table: %s", len(missing), ", ".join(missing))
    create_table_artifact(
        effect_rows(evaluation.effects), key="fmnist-ablation", description="Ablation: effect of each framework default"
    )
    return evaluation
