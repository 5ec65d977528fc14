"""``fmnist train keras|torch``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fmnist.cli.app import app, settings
from fmnist.cli.options import MaxEpochs, Preset
from fmnist.config import get_preset, preset_names, with_overrides
from fmnist.errors import FmnistError

PresetName = StrEnum("PresetName", {name: name for name in preset_names()})


class FrameworkName(StrEnum):
    keras = "keras"
    torch = "torch"


@app.command("train")
def train_cmd(
    ctx: typer.Context,
    framework: FrameworkName = typer.Argument(..., help="keras or torch."),
    data: Path = typer.Option(
        Path("data/splits"), "--data", "-d", exists=True, file_okay=False, help="Folder written by `fmnist split`."
    ),
    preset: PresetName = Preset,  # type: ignore[valid-type]
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
    from fmnist.tracking import Tracker
    from fmnist.train.tracked import train_framework

    opts = settings(ctx)
    chosen = get_preset(str(preset.value))
    train_cfg = with_overrides(chosen.train, max_epochs=max_epochs, seed=seed, threads=threads)
    tracker = Tracker()
    if parent_run_id is None:
        parent_run_id = tracker.start_parent(f"train-{framework.value}", {"preset": chosen.name})
        own_parent = True
    else:
        own_parent = False
    progress = Progress(
        TextColumn(f"[bold]{framework.value}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        disable=opts.quiet or as_json,
    )
    task = progress.add_task("epochs", total=train_cfg.max_epochs, status="starting")

    def show(m: object) -> None:
        status = f"loss {m.train_loss:.4f} acc {m.train_acc:.4f} | val loss {m.val_loss:.4f} acc {m.val_acc:.4f}"  # type: ignore[attr-defined]
        progress.update(task, completed=m.epoch, status=status)  # type: ignore[attr-defined]

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
    table = Table(title=f"{framework.value}: best epoch {summary.best_epoch} of {summary.stopped_epoch}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.final_metrics.items():
        table.add_row(key, f"{value:.4f}")
    table.add_row("run_id", summary.run_id)
    table.add_row("model_uri", summary.model_uri)
    opts.console().print(table)
