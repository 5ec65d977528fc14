"""``fmnist predict``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from fmnist.cli.app import app, settings


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

    opts = settings(ctx)
    if out is not None:
        check_out_path(out)  # before any work: a bad --out is reported at once
    batch = read_inputs(inputs)
    loaded = load_model(model)
    progress = Progress(
        TextColumn("[bold]predict"), BarColumn(), MofNCompleteColumn(), disable=opts.quiet or out is None,
        console=None,
    )  # fmt: skip
    with progress:
        task = progress.add_task("images", total=len(batch.pixels))
        predictions = predict(loaded, batch, on_chunk=lambda n: progress.advance(task, n))
    if out is None:
        sys.stdout.write(predictions.to_csv())
    else:
        write_csv(predictions, out)
        opts.console().print(f"{len(batch.pixels):,} predictions written to {out}")
