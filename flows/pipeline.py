"""The ``fmnist-pipeline`` flow: ingest → split → train (Keras and PyTorch side by side) → evaluate → register.

Only sequencing lives here; every step is a task wrapping one ``fmnist`` function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from fmnist.data.prepare import splits_ready
from fmnist.evaluate.summary import best_per_framework, pipeline_summary
from fmnist.registry.promotion import DEFAULT_MARGIN
from fmnist.timing import Stopwatch
from tasks.evaluate import evaluate_seeds_task, evaluate_task
from tasks.ingest import ingest_task
from tasks.register import register_task
from tasks.report import report_task
from tasks.split import split_task
from tasks.tracking import finish_parent_run_task, start_parent_run_task
from tasks.train import train_task

FrameworkName = Literal["keras", "torch"]
PresetName = Literal["seed", "parity", "tuned"]


# Two task threads: each training runs in its own process, one per core of a 2-core machine.
@flow(name="fmnist-pipeline", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=2))
def fmnist_pipeline(
    data_source: str | None = None,
    preset: PresetName = "seed",
    frameworks: Annotated[list[FrameworkName], Field(min_length=1)] = ["keras", "torch"],  # noqa: B006
    max_epochs: Annotated[int, Field(ge=1, le=500)] | None = None,
    seed: Annotated[int, Field(ge=0)] = 42,
    seeds: Annotated[int, Field(ge=1, le=20)] = 1,
    promotion_margin: Annotated[float, Field(ge=0, le=1)] = DEFAULT_MARGIN,
    refresh_data: bool = False,
    work_dir: str = "data",
    experiment: str | None = None,
) -> dict[str, Any]:
    """Train the same network in Keras and PyTorch on one split and log both to one MLflow parent run.

    data_source: folder, Kaggle CSV or base URL; default: $FMNIST_DATA_SOURCE or the official download.
    preset: seed (the reference study), parity (framework differences removed) or tuned.
    promotion_margin: how much official-test accuracy a new model must gain over the champion.
    seeds: train each framework with this many seeds (seed, seed+1, ...) and compare across seeds.
    refresh_data: re-ingest and re-validate even when the cached ingest and split still match.
    """
    import os

    data_source = data_source or os.environ.get("FMNIST_DATA_SOURCE") or None
    frameworks = list(dict.fromkeys(frameworks))
    root = Path(work_dir).absolute()
    params = {"data_source": data_source or "official", "preset": preset, "frameworks": ",".join(frameworks),
              "max_epochs": max_epochs or "preset", "seed": seed, "seeds": seeds,
              "promotion_margin": promotion_margin}  # fmt: skip
    clock = Stopwatch()
    uri, parent = start_parent_run_task(params, experiment)
    clock.lap("start_tracking")
    try:
        source = ingest_task.with_options(refresh_cache=refresh_data)(data_source, root / "raw")
        clock.lap("ingest")
        split_dir = root / "splits" / f"seed-{seed}"
        fresh = refresh_data or not splits_ready(source, split_dir, seed)
        manifest = split_task.with_options(refresh_cache=fresh)(source, split_dir, seed)
        split_dir = manifest.parent
        clock.lap("split")
        futures = [
            train_task.submit(
                framework=fw, split_dir=split_dir, preset=preset, parent_run_id=parent,
                checkpoint_root=root / "checkpoints", tracking_uri=uri, experiment=experiment,
                overrides={"max_epochs": max_epochs, "seed": s}, run_name=fw if seeds == 1 else f"{fw}-seed-{s}",
            )
            for s in range(seed, seed + seeds)
            for fw in frameworks
        ]  # fmt: skip
        summaries = [f.result() for f in futures]
        clock.lap("train")
        scored = {t.run_id: t.scores for t in summaries if t.scores}
        if seeds == 1:
            child_runs = {t.framework: t.run_id for t in summaries}
            evaluation = evaluate_task(uri, experiment, parent, child_runs, split_dir, scored)
        else:
            by_seed = {fw: {t.seed: t.run_id for t in summaries if t.framework == fw} for fw in frameworks}
            evaluation = evaluate_seeds_task(uri, experiment, parent, by_seed, split_dir, scored)
        trained = best_per_framework(summaries, evaluation.per_run)
        clock.lap("evaluate")
        registrations = register_task(
            uri, experiment, {fw: (t.model_uri, t.run_id) for fw, t in trained.items()},
            {fw: evaluation.per_run[t.run_id]["official_test/acc"] for fw, t in trained.items()},
            split_dir, promotion_margin,
        )  # fmt: skip
        clock.lap("register")
        finish_parent_run_task(uri, parent, "FINISHED", clock.as_dict())
        report = report_task(uri, experiment, parent, root / "reports" / parent)
        clock.lap("report")
    except BaseException:
        # Close the MLflow run as failed so the UI never shows a run "running" forever.
        finish_parent_run_task(uri, parent, "FAILED")
        raise
    summary = pipeline_summary(parent, uri, split_dir, trained, evaluation, registrations, clock.as_dict())
    return {**summary, "report": str(report)}
