"""``fmnist train``, ``predict``, ``evaluate``, ``register`` and ``report``: one stage at a time, on MLflow."""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from fmnist.cli.app import app, console_of
from fmnist.cli.options import MaxEpochs, Preset, PresetName, PromotionAlpha, PromotionMinGain, RunId, SplitDir
from fmnist.config import FRAMEWORKS, get_preset
from fmnist.errors import FmnistError

FrameworkName = StrEnum("FrameworkName", {name: name for name in FRAMEWORKS})


@app.command("train")
def train_cmd(
    ctx: typer.Context,
    framework: FrameworkName = typer.Argument(..., help="keras or torch."),
    data: Path = typer.Option(
        Path("data/splits"), "--data", "-d", exists=True, file_okay=False, help="Folder written by `fmnist split`."
    ),
    preset: PresetName = Preset,
    max_epochs: int | None = MaxEpochs,
    seed: int | None = typer.Option(None, "--seed", min=0, help="Override the preset's seed."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads (default 1)."),
    parent_run_id: str | None = typer.Option(
        None, "--parent-run-id", help="Log under this MLflow parent run; resumes an interrupted training there."
    ),
    checkpoints: Path = typer.Option(Path("data/checkpoints"), "--checkpoints", help="Checkpoint folder."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the result."),
) -> None:
    """Train one framework on the splits, logging params, metrics, checkpoints and the model to MLflow.

    Example: fmnist train torch --data data/splits --preset seed --max-epochs 5
    """
    from fmnist.train.loop import load_train_data

    load_train_data(data)  # bad splits fail here, before MLflow is imported and a run is left behind
    from fmnist.config import with_overrides
    from fmnist.tracking import Tracker
    from fmnist.train.tracked import train_framework

    console = console_of(ctx)
    chosen = get_preset(preset.value)
    train_cfg = with_overrides(chosen.train, max_epochs=max_epochs, seed=seed, threads=threads)
    tracker = Tracker()
    own_parent = parent_run_id is None
    if own_parent:
        parent_run_id = tracker.start_parent(f"train-{framework.value}", {"preset": chosen.name})
    progress = Progress(
        TextColumn(f"[bold]{framework.value}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        disable=console.quiet or as_json,
    )
    task = progress.add_task("epochs", total=train_cfg.max_epochs, status="starting")

    def show(m: Any) -> None:
        status = f"loss {m.train_loss:.4f} acc {m.train_acc:.4f} | val loss {m.val_loss:.4f} acc {m.val_acc:.4f}"
        progress.update(task, completed=m.epoch, status=status)

    status = "FAILED"  # the parent run ends FINISHED only if the training did; interrupted: KILLED
    try:
        with progress:
            summary = train_framework(
                framework.value, data, chosen.model, train_cfg, tracker=tracker, parent_run_id=parent_run_id,
                checkpoint_root=checkpoints, preset=chosen.name, on_epoch_end=show,
            )  # fmt: skip
        status = "FINISHED"
    except (ValueError, FileNotFoundError) as exc:
        raise FmnistError(str(exc)) from exc
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if own_parent:
            tracker.end_run(parent_run_id, status)
    if as_json:
        typer.echo(json.dumps({"parent_run_id": parent_run_id, **summary.__dict__}))
        return
    title = f"{framework.value}: best epoch {summary.best_epoch} of {summary.stopped_epoch}"
    table = Table("metric", Column("value", justify="right"), title=title)
    for key, value in summary.final_metrics.items():
        table.add_row(key, f"{value:.4f}")
    table.add_row("run_id", summary.run_id)
    table.add_row("model_uri", summary.model_uri)
    console.print(table)


@app.command("predict")
def predict_cmd(
    ctx: typer.Context,
    inputs: list[Path] = typer.Argument(..., help="PNG/JPEG (28x28 grey) images or folders, IDX, CSV or Parquet."),
    model: str = typer.Option("models:/fmnist@champion", "--model", "-m", help="Model URI in MLflow."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the CSV here instead of standard output."),
) -> None:
    """Classify images with a registered model; print (or write) a CSV of classes and probabilities.

    Example: fmnist predict --model models:/fmnist@champion shoe.png data/splits/seed-42/test.parquet --out p.csv
    """
    from fmnist.serve.prediction import check_out_path, load_model, predict, read_inputs, write_csv

    console = console_of(ctx)
    if out is not None:
        check_out_path(out)  # before any work: a bad --out is reported at once
    batch = read_inputs(inputs)
    loaded = load_model(model)
    progress = Progress(
        TextColumn("[bold]predict"), BarColumn(), MofNCompleteColumn(), disable=console.quiet or out is None
    )
    with progress:
        task = progress.add_task("images", total=len(batch.pixels))
        predictions = predict(loaded, batch, on_chunk=lambda n: progress.advance(task, n))
    if out is None:
        sys.stdout.write(predictions.to_csv())
    else:
        write_csv(predictions, out)
        console.print(f"{len(batch.pixels):,} predictions written to {out}")


def finished_children(tracker: Any, run_id: str, split_override: Path | None) -> tuple[list[dict[str, Any]], Path]:
    """The finished framework runs of the parent run ``run_id``, and the splits they trained on."""
    children = [c for c in tracker.children(run_id) if c["status"] == "FINISHED"]
    if not children:
        raise FmnistError(f"run {run_id} has no finished framework runs; is it a pipeline's parent run?")
    if split_override is not None:
        return children, split_override
    dirs = {c["params"].get("data.split_dir") for c in children} - {None}
    if len(dirs) != 1:
        raise FmnistError("cannot tell which splits the runs used; pass --data DIR")
    return children, Path(dirs.pop())


@app.command("evaluate")
def evaluate_cmd(
    ctx: typer.Context,
    run_id: str = RunId,
    data: Path | None = SplitDir,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score each framework's best checkpoint from MLflow and log the comparison to the parent run.

    Example: fmnist evaluate --run-id 0a1b2c3d4e5f...
    """
    from fmnist.evaluate.scoring import evaluate_runs
    from fmnist.tracking import Tracker

    tracker = Tracker()
    children, split_dir = finished_children(tracker, run_id, data)
    by_fw: dict[str, dict[int, str]] = defaultdict(dict)
    for c in children:
        by_fw[c["framework"]][c["seed"] if c["seed"] is not None else 0] = c["run_id"]
    result = evaluate_runs(tracker, run_id, by_fw, split_dir)
    if as_json:
        typer.echo(json.dumps({"verdict": result.verdict, "accuracy": result.accuracy, "metrics": result.metrics}))
        return
    console_of(ctx).print(Markdown(result.markdown))


@app.command("register")
def register_cmd(
    ctx: typer.Context,
    run_id: str = RunId,
    alpha: float = PromotionAlpha,
    min_gain: float = PromotionMinGain,
    data: Path | None = SplitDir,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Register each framework's evaluated model and the better one as `fmnist`; move `champion` by the rule.

    Runs the pipeline's register task, under its registry lock (on $PREFECT_API_URL, else Prefect's ephemeral API).

    Example: fmnist register --run-id 0a1b2c3d4e5f... --alpha 0.05
    """
    from fmnist.cli.flows import quiet_logs
    from fmnist.experiments.sweep import best_of_each
    from fmnist.registry.registration import SELECTION_METRIC
    from fmnist.tracking import Tracker

    quiet_logs()
    # The task runs outside any flow run: Prefect keeps its log lines here instead of warning that it cannot
    # attach them to one.
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    tracker = Tracker()
    children, split_dir = finished_children(tracker, run_id, data)
    if any(SELECTION_METRIC not in c["metrics"] for c in children):
        raise FmnistError(f"run {run_id} is not evaluated yet; run `fmnist evaluate --run-id {run_id}` first")
    # As the pipeline does: each framework's training with the best validation accuracy, never the official test.
    best = best_of_each(children, lambda c: c["framework"], lambda c: c["metrics"][SELECTION_METRIC])
    models = {fw: (f"models:/{tracker.logged_model_id(c['run_id'])}", c["run_id"]) for fw, c in best.items()}
    accuracy = {fw: c["metrics"][SELECTION_METRIC] for fw, c in best.items()}
    from tasks.register import register_task

    registrations = register_task(tracker.uri, None, models, accuracy, split_dir, alpha, min_gain)
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in registrations]))
        return
    for r in registrations:
        console_of(ctx).print(f"{r.name} v{r.version} ({', '.join(r.aliases) or 'no alias'}): {r.reason}", markup=False)


@app.command("report")
def report_cmd(
    ctx: typer.Context,
    run_id: str = RunId,
    out: Path = typer.Option(
        Path("report"), "--out", "-o", file_okay=False, help="Folder for report.html, report.md and figures."
    ),
    log: bool = typer.Option(True, "--log/--no-log", help="Also attach the report to the MLflow parent run."),
) -> None:
    """Write a self-contained HTML report (images inlined) and its Markdown twin for a pipeline run.

    Example: fmnist report --run-id 0a1b2c3d4e5f... --out report/
    """
    from fmnist.evaluate.report import build_report, log_report, write_report
    from fmnist.tracking import Tracker

    tracker = Tracker()
    if not tracker.children(run_id):
        raise FmnistError(f"run {run_id}: no pipeline run with framework runs in {tracker.uri}; check the id")
    html_path, md_path = write_report(build_report(tracker, run_id), out)
    if log:
        log_report(tracker, run_id, out)
    console_of(ctx).print(f"report: {html_path} and {md_path}")
