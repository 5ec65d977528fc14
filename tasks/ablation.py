"""Prefect task of an ablation: compare the arms."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from fmnist.experiments.ablation import AblationEvaluation, effect_rows, evaluate_ablation
from fmnist.experiments.factors import select_factors
from fmnist.tracking import Tracker
from fmnist.train.tracked import TrainSummary
from fmnist.train.trial import Trial


@task(name="evaluate-ablation", retries=2, retry_delay_seconds=[5, 30])
def evaluate_ablation_task(
    tracking_uri: str,
    experiment: str | None,
    parent_run_id: str,
    planned: list[Trial],
    results: list[TrainSummary],
    factors: Sequence[str],
    margin: float,
) -> AblationEvaluation:
    """Estimate every effect, log the table, metrics and forest plot to the parent run; publish the table as a
    Prefect artifact."""
    evaluation = evaluate_ablation(
        Tracker(tracking_uri, experiment), parent_run_id, planned, results, select_factors(factors), margin
    )
    missing = [name for arm in evaluation.arms.values() for name in arm.missing]
    if missing:
        get_run_logger().warning("%d trial(s) missing from the table: %s", len(missing), ", ".join(missing))
    create_table_artifact(
        effect_rows(evaluation.effects), key="fmnist-ablation", description="Ablation: effect of each framework default"
    )
    return evaluation
