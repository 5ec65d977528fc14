"""The ``fmnist-pipeline`` flow: ingest → split → train (Keras and PyTorch side by side) → evaluate → register.
Sequencing only; the trainings are trials of a one-point sweep (:func:`flows.trials.run_trials`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from prefect import flow
from pydantic import Field

from flows.trials import parent_run, prepare_data, run_trials, trial_setup
from fmnist.config import Framework, PresetName
from fmnist.data.ingest import default_source
from fmnist.experiments.cluster import ClusterSpec
from fmnist.experiments.pipeline import best_per_framework, pipeline_summary
from fmnist.experiments.sweep import plan_trials, run_summary
from fmnist.registry.promotion import DEFAULT_ALPHA, DEFAULT_MIN_GAIN
from fmnist.timing import Stopwatch
from tasks.evaluate import evaluate_task
from tasks.register import register_task
from tasks.report import report_task
from tasks.tracking import finish_parent_run_task


@flow(name="fmnist-pipeline", log_prints=True)
def fmnist_pipeline(
    data_source: str | None = None,
    preset: PresetName = "seed",
    frameworks: Annotated[list[Framework], Field(min_length=1)] = ["keras", "torch"],  # noqa: B006
    max_epochs: Annotated[int, Field(ge=1, le=500)] | None = None,
    seed: Annotated[int, Field(ge=0)] = 42,
    seeds: Annotated[int, Field(ge=1, le=20)] = 1,
    promotion_alpha: Annotated[float, Field(gt=0, le=0.5)] = DEFAULT_ALPHA,
    promotion_min_gain: Annotated[float, Field(ge=0, le=1)] = DEFAULT_MIN_GAIN,
    equivalence_margin: Annotated[float, Field(gt=0, le=100)] = 0.5,
    refresh_data: bool = False,
    work_dir: str = "data",
    experiment: str | None = None,
    cluster: ClusterSpec | None = None,
    split_store: Literal["local", "mlflow"] | None = None,
) -> dict[str, Any]:
    """Train the same network in Keras and PyTorch on one split and log both to one MLflow parent run.

    Parameters: docs/usage.md, "Flow parameters"; cluster and split_store: docs/operations.md.
    """
    data_source = data_source or default_source()
    frameworks = list(dict.fromkeys(frameworks))
    root = Path(work_dir).absolute()
    params = {"data_source": data_source or "official", "preset": preset, "frameworks": ",".join(frameworks),
              "max_epochs": max_epochs or "preset", "seed": seed, "seeds": seeds,
              "promotion_alpha": promotion_alpha, "promotion_min_gain": promotion_min_gain,
              "equivalence_margin_pt": equivalence_margin}  # fmt: skip
    trials = plan_trials(frameworks, range(seed, seed + seeds), {})
    clock = Stopwatch()
    with parent_run(params, experiment) as (uri, parent):
        clock.lap("start_tracking")
        split_dir = prepare_data(data_source, root, seed, refresh_data)
        clock.lap("data")
        setup = trial_setup(root, (uri, parent), experiment, {seed: split_dir}, preset, max_epochs, split_store)
        results = run_trials(trials, setup, cluster)
        clock.lap("train")
        evaluation = evaluate_task(uri, experiment, parent, results, split_dir, equivalence_margin / 100)
        trained = best_per_framework(results)
        clock.lap("evaluate")
        registrations = register_task(
            uri, experiment, {fw: (t.model_uri, t.run_id) for fw, t in trained.items()},
            {fw: t.accuracy("val") for fw, t in trained.items()}, split_dir, promotion_alpha,
            promotion_min_gain,
        )  # fmt: skip
        clock.lap("register")
        finish_parent_run_task(uri, parent, "FINISHED", clock.as_dict())
        report = report_task(uri, experiment, parent, root / "reports" / parent)
        clock.lap("report")
    summary = pipeline_summary(split_dir, trained, evaluation, registrations)
    return run_summary(parent, uri, results, clock.as_dict(), **summary, report=str(report))
