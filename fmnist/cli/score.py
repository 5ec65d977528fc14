"""``fmnist score-batch``: the batch-scoring flow, in this process, on Prefect's ephemeral API and the MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from fmnist.cli.app import app, settings
from fmnist.cli.flows import run_flow
from fmnist.cli.options import Experiment, Verbose


@app.command("score-batch")
def score_batch_cmd(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="PNG/JPEG (28x28 grey) image or folder of them, IDX, CSV or Parquet."),
    model_uri: str = typer.Option("models:/fmnist@champion", "--model-uri", "-m", help="Model URI in MLflow."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Folder for predictions.parquet/.csv and summary.json (default data/scores/RUN_ID)."
    ),
    threshold: float = typer.Option(
        0.5, "--threshold", "-t", help="Images whose top probability is below this count as low-confidence."
    ),
    experiment: str | None = Experiment,
    verbose: bool = Verbose,
    as_json: bool = typer.Option(False, "--json", help="End with one line of JSON: the scoring's summary."),
) -> None:
    """Score a folder or file of images with a registered model; write Parquet + CSV, log a summary run to MLflow.

    Example: fmnist score-batch incoming/ --model-uri models:/fmnist@champion --out data/scores/today --threshold 0.6
    """
    from fmnist.serve.batch_scoring import check_arguments

    opts = settings(ctx)
    check_arguments(source, out, threshold)  # before Prefect starts: bad input is reported at once
    params = {
        "source": str(source),
        "model_uri": model_uri,
        "out_dir": str(out) if out is not None else None,
        "confidence_threshold": threshold,
        "experiment": experiment,
    }
    result = run_flow("score-batch", params, opts, verbose=verbose, show=False)
    if as_json:
        typer.echo(json.dumps(result))
        return
    summary = result["summary"]
    table = Table("class", "images", "share")
    for name, count in summary["class_counts"].items():
        table.add_row(name, f"{count:,}", f"{100 * count / summary['images']:.1f} %")
    console = opts.console()
    version = result["model_version"] or "-"
    console.print(f"{summary['images']:,} images scored with {model_uri} (version {version})")
    console.print(table)
    console.print(
        f"mean confidence {summary['mean_confidence']:.3f}; {100 * summary['low_confidence_share']:.1f} % of images"
        f" below {summary['threshold']}"
    )
    console.print(f"predictions in {result['out_dir']}")
    console.print(f"MLflow run {result['run_id']} ({result['tracking_uri']})")
