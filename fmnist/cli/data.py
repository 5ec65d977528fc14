"""``fmnist ingest`` and ``fmnist split``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from fmnist.cli.app import app, settings
from fmnist.cli.options import DataSource, Experiment, WorkDir
from fmnist.cli.progress import DownloadBar
from fmnist.data.ingest import ingest, load
from fmnist.data.prepare import DEFAULT_SEED, prepare_splits

CacheDir = typer.Option(Path("data/raw"), "--cache-dir", file_okay=False, help="Where downloads are cached.")
JsonOut = typer.Option(False, "--json", help="Print one JSON object instead of tables.")


@app.command("ingest")
def ingest_cmd(
    ctx: typer.Context,
    data_source: str | None = DataSource,
    cache_dir: Path = CacheDir,
    add: Path | None = typer.Option(
        None, "--add", help="Add this labelled batch: a PNG folder with labels.csv, a Kaggle-style CSV or an IDX pair."
    ),
    work_dir: Path = WorkDir,
    experiment: str | None = Experiment,
    drift_alpha: float = typer.Option(0.01, "--drift-alpha", min=1e-9, max=0.5, help="Significance of drift tests."),
    drift_accuracy_drop: float = typer.Option(
        0.02, "--drift-accuracy-drop", min=0.0, max=1.0, help="Champion accuracy lost on the batch that is drift."
    ),
    as_json: bool = JsonOut,
) -> None:
    """Fetch (if needed), checksum and validate a data source; print what it holds. With --add, add a labelled
    batch: validate it, refuse images already held, record it, check it for drift, announce it to Prefect.

    Example: fmnist ingest --data-source ../shared/data/fashion-mnist --add new-photos/
    """
    opts = settings(ctx)
    if add is not None:
        from fmnist.cli.batches import add_batch

        add_batch(opts, add, data_source, work_dir, experiment, drift_alpha, drift_accuracy_drop, as_json)
        return
    result = ingest(data_source, cache_dir, progress=lambda name: DownloadBar(name, quiet=opts.quiet or as_json))
    raw = load(result)
    counts = {
        "train": int(raw.train_labels.shape[0]),
        "official_test": int(raw.test_labels.shape[0]),
    }
    if as_json:
        typer.echo(json.dumps({**result.to_json(), "images": counts}))
        return
    table = Table(title=f"{result.source} ({result.kind})")
    table.add_column("file")
    table.add_column("md5")
    for name, digest in result.md5.items():
        table.add_row(name, digest)
    console = opts.console()
    console.print(table)
    console.print(f"valid: {counts['train']:,} training and {counts['official_test']:,} test images, 28x28")


@app.command("split")
def split_cmd(
    ctx: typer.Context,
    out: Path = typer.Option(Path("data/splits"), "--out", "-o", file_okay=False, help="Folder for the splits."),
    data_source: str | None = DataSource,
    seed: int = typer.Option(DEFAULT_SEED, "--seed", min=0, help="Seed of the stratified split."),
    cache_dir: Path = CacheDir,
    as_json: bool = JsonOut,
) -> None:
    """Write the seeded, stratified train/val/test split and the official test set as Parquet + manifest.

    Example: fmnist split --data-source ../shared/data/fashion-mnist --out data/splits --seed 42
    """
    opts = settings(ctx)
    result = ingest(data_source, cache_dir, progress=lambda name: DownloadBar(name, quiet=opts.quiet or as_json))
    manifest = prepare_splits(result, out, seed=seed)
    if as_json:
        typer.echo(manifest.to_json().replace("\n", " "))
        return
    table = Table(title=f"{out} (seed {seed})")
    for col in ("split", "rows", "per class", "sha256"):
        table.add_column(col)
    for name, info in manifest.splits.items():
        per_class = f"{min(info.class_counts)}..{max(info.class_counts)}"
        table.add_row(name, f"{info.rows:,}", per_class, info.sha256[:16] + "…")
    opts.console().print(table)
