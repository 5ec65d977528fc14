"""``fmnist ingest --add``, ``fmnist make-batch`` and ``fmnist retrain``: the retraining loop from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.table import Table

from fmnist.cli.app import Settings, app, settings
from fmnist.cli.flows import run_flow
from fmnist.cli.options import DataSource, Experiment, MaxEpochs, Verbose, WorkDir, Workers
from fmnist.cli.train import PresetName
from fmnist.data.labelled_batch import check_batch_path
from fmnist.errors import FmnistError


def add_batch(
    opts: Settings,
    source: Path,
    data_source: str | None,
    work_dir: Path,
    experiment: str | None,
    drift_alpha: float,
    drift_accuracy_drop: float,
    as_json: bool,
) -> None:
    """Run the add-batch flow and print what it recorded and found. A refused batch is one ``error:`` line, so
    Prefect's own report of the failed task (with its traceback) stays in its API, off the terminal."""
    check_batch_path(source)  # a wrong path is one line now, not after the flow has started
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    params = {
        "source": str(source),
        "data_source": data_source,
        "work_dir": str(work_dir),
        "experiment": experiment,
        "drift_alpha": drift_alpha,
        "drift_accuracy_drop": drift_accuracy_drop,
    }
    summary = run_flow("add-batch", params, opts, verbose=False, show=False)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console = opts.console()
    console.print(
        f"accepted batch {summary['batch']}: {summary['rows']:,} images ({summary['train_rows']:,} for training,"
        f" {summary['recent_rows']:,} recent); data version {summary['data_version'][:12]}"
    )
    table = Table(title=f"drift: {summary['drift']}")
    table.add_column("check")
    table.add_column("value", justify="right")
    for key, value in summary["metrics"].items():
        table.add_row(key.removeprefix("drift/"), f"{value:.4g}")
    console.print(table)
    for reason in summary["reasons"]:
        console.print(f"- {reason}")


def parse_class_weights(value: str | None) -> dict[int, float]:
    """``"6:3,0:0.5"`` → ``{6: 3.0, 0: 0.5}``."""
    if not value:
        return {}
    try:
        pairs = [item.split(":") for item in value.split(",") if item.strip()]
        return {int(k): float(w) for k, w in pairs}
    except ValueError:
        raise FmnistError(f"--class-weights {value!r}: give class:weight pairs, e.g. 6:3,0:0.5") from None


@app.command("make-batch")
def make_batch_cmd(
    ctx: typer.Context,
    out: Path = typer.Argument(..., help="Where to write the batch (a folder; a .csv file with --layout csv)."),
    split_dir: Path = typer.Option(
        Path("data/splits/seed-42"), "--from", exists=True, file_okay=False, help="Split to draw training rows from."
    ),
    images: int = typer.Option(1000, "--images", "-n", min=1, help="Images in the batch."),
    brightness: float = typer.Option(0.0, "--brightness", help="Grey levels added to every pixel (-255..255)."),
    contrast: float = typer.Option(1.0, "--contrast", min=0.0, help="Contrast factor around each image's mean."),
    rotate: float = typer.Option(0.0, "--rotate", min=0.0, help="Largest rotation, degrees."),
    translate: float = typer.Option(0.0, "--translate", min=0.0, help="Largest move along each axis, pixels."),
    noise: float = typer.Option(1.0, "--noise", min=0.0, help="Gaussian pixel noise, grey levels (0: none)."),
    class_weights: str | None = typer.Option(None, "--class-weights", help="Class mix, e.g. 6:3,0:0.5 (others 1)."),
    layout: str = typer.Option("png", "--layout", help="png (folder + labels.csv), csv or idx."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the draw and of every random change."),
) -> None:
    """Write a labelled batch drawn from a split's training images, with controlled, realistic shifts, in a
    layout `fmnist ingest --add` reads (for demos and drift tests; the test sets are never drawn from).

    Example: fmnist make-batch new-photos --images 10000 --brightness 40 --rotate 10 --class-weights 6:3
    """
    from fmnist.data.manifest import read_manifest, read_verified_split
    from fmnist.data.shifts import Shift, draw_batch, write_batch

    opts = settings(ctx)
    if layout not in ("png", "csv", "idx"):
        raise FmnistError(f"--layout {layout!r}: choose png, csv or idx")
    shift = Shift(brightness, contrast, rotate, translate, noise, parse_class_weights(class_weights))
    pixels, labels = read_verified_split(split_dir, "train")
    base = read_manifest(split_dir, verify=False).base_train_rows or len(labels)  # the base release's rows only
    batch_x, batch_y = draw_batch(pixels[:base], labels[:base], images, shift, seed)
    written = write_batch(out, batch_x, batch_y, layout)  # type: ignore[arg-type]
    opts.console().print(f"wrote {len(batch_y):,} images to {written} ({layout}); add it with: fmnist ingest --add")


@app.command("retrain")
def retrain_cmd(
    ctx: typer.Context,
    data_source: str | None = DataSource,
    preset: PresetName = typer.Option("tuned", "--preset", "-p", help="Training recipe."),  # type: ignore[valid-type]
    max_epochs: int | None = MaxEpochs,
    workers: int | None = Workers,
    work_dir: Path = WorkDir,
    experiment: str | None = Experiment,
    force: bool = typer.Option(False, "--force", help="Retrain even if nothing changed since the champion."),
    verbose: bool = Verbose,
    as_json: bool = typer.Option(False, "--json", help="End with one line of JSON."),
) -> None:
    """Retrain on the base release plus every accepted batch if the data changed since the champion was trained
    (what the scheduled and the event-triggered deployments run); otherwise say why not, in seconds.

    Example: fmnist retrain --data-source ../shared/data/fashion-mnist
    """
    opts = settings(ctx)
    params = {
        "data_source": data_source, "preset": str(preset.value), "max_epochs": max_epochs,
        "workers": workers, "work_dir": str(work_dir), "experiment": experiment, "trigger": "cli", "force": force,
    }  # fmt: skip
    summary = run_flow("retrain", params, opts, verbose=verbose, show=not as_json)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    if summary.get("retrained") is False:
        opts.console().print(f"not retrained: {summary['reason']}")
        return
    opts.console().print(f"retrained: MLflow parent run {summary['parent_run_id']}")
