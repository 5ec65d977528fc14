"""``fmnist ingest``, ``fmnist split`` and ``fmnist make-batch``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Column, Table

from fmnist.cli.app import app, console_of
from fmnist.cli.options import DataSource, Experiment, WorkDir
from fmnist.data.ingest import ingest, load
from fmnist.data.prepare import DEFAULT_SEED, prepare_splits
from fmnist.errors import FmnistError

CacheDir = typer.Option(Path("data/raw"), "--cache-dir", file_okay=False, help="Where downloads are cached.")
JsonOut = typer.Option(False, "--json", help="Print one JSON object instead of tables.")


class DownloadBar:
    """A Rich bar in the protocol :func:`fmnist.data.ingest.fetch_file` drives (``total``, ``update``, ``close``)."""

    def __init__(self, name: str, quiet: bool = False) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            disable=quiet,
        )
        self._task = self._progress.add_task(name, total=None)
        self._progress.start()

    @property
    def total(self) -> float | None:
        return self._progress.tasks[0].total

    @total.setter
    def total(self, value: float) -> None:
        self._progress.update(self._task, total=value or None)

    def update(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def close(self) -> None:
        self._progress.stop()


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
    console = console_of(ctx)
    if add is not None:
        params = {
            "source": add,
            "data_source": data_source,
            "work_dir": work_dir,
            "experiment": experiment,
            "drift_alpha": drift_alpha,
            "drift_accuracy_drop": drift_accuracy_drop,
        }
        add_batch(ctx, params, as_json)
        return
    result = ingest(data_source, cache_dir, progress=lambda name: DownloadBar(name, quiet=console.quiet or as_json))
    raw = load(result)
    counts = {"train": int(raw.train_labels.shape[0]), "official_test": int(raw.test_labels.shape[0])}
    if as_json:
        typer.echo(json.dumps({**result.to_json(), "images": counts}))
        return
    table = Table("file", "md5", title=f"{result.source} ({result.kind})")
    for name, digest in result.md5.items():
        table.add_row(name, digest)
    console.print(table)
    console.print(f"valid: {counts['train']:,} training and {counts['official_test']:,} test images, 28x28")


def add_batch(ctx: typer.Context, params: dict[str, Any], as_json: bool) -> None:
    """Run the add-batch flow and print what it recorded and found. A refused batch is one ``error:`` line, so
    Prefect's own report of the failed task (with its traceback) stays in its API, off the terminal."""
    from fmnist.cli.flows import run_flow
    from fmnist.data.labelled_batch import check_batch_path

    check_batch_path(params["source"])  # a wrong path is one line now, not after the flow has started
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    summary = run_flow(ctx, "add-batch", params, live=False)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console = console_of(ctx)
    console.print(
        f"accepted batch {summary['batch']}: {summary['rows']:,} images ({summary['train_rows']:,} for training,"
        f" {summary['recent_rows']:,} recent); data version {summary['data_version'][:12]}"
    )
    table = Table("check", Column("value", justify="right"), title=f"drift: {summary['drift']}")
    for key, value in summary["metrics"].items():
        table.add_row(key.removeprefix("drift/"), f"{value:.4g}")
    console.print(table)
    for reason in summary["reasons"]:
        console.print(f"- {reason}")


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
    console = console_of(ctx)
    result = ingest(data_source, cache_dir, progress=lambda name: DownloadBar(name, quiet=console.quiet or as_json))
    manifest = prepare_splits(result, out, seed=seed)
    if as_json:
        typer.echo(manifest.to_json().replace("\n", " "))
        return
    table = Table("split", "rows", "per class", "sha256", title=f"{out} (seed {seed})")
    for name, info in manifest.splits.items():
        per_class = f"{min(info.class_counts)}..{max(info.class_counts)}"
        table.add_row(name, f"{info.rows:,}", per_class, info.sha256[:16] + "…")
    console.print(table)


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

    if layout not in ("png", "csv", "idx"):
        raise FmnistError(f"--layout {layout!r}: choose png, csv or idx")
    shift = Shift(brightness, contrast, rotate, translate, noise, parse_class_weights(class_weights))
    pixels, labels = read_verified_split(split_dir, "train")
    base = read_manifest(split_dir, verify=False).base_train_rows or len(labels)  # the base release's rows only
    batch_x, batch_y = draw_batch(pixels[:base], labels[:base], images, shift, seed)
    written = write_batch(out, batch_x, batch_y, layout)  # type: ignore[arg-type]
    console_of(ctx).print(f"wrote {len(batch_y):,} images to {written} ({layout}); add it with: fmnist ingest --add")
