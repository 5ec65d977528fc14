"""``fmnist sweep``: a grid × seeds sweep on a Dask cluster, on Prefect's ephemeral API and the local MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markdown import Markdown

from fmnist.cli.app import app, settings
from fmnist.cli.flows import run_flow
from fmnist.cli.options import (
    AdaptMax,
    AdaptMin,
    ClusterClass,
    ClusterKwargs,
    DaskAddress,
    DataSource,
    Experiment,
    Frameworks,
    MaxEpochs,
    Preset,
    SplitStore,
    Verbose,
    WorkDir,
    Workers,
    parse_split_store,
)
from fmnist.cli.run import parse_frameworks
from fmnist.cli.train import PresetName
from fmnist.errors import FmnistError
from fmnist.experiments.cluster import cluster_spec, parse_cluster_kwargs


def parse_values(option: str, value: str | None) -> list[float] | None:
    """``"1e-3,3e-3"`` → ``[0.001, 0.003]``; None stays None (the preset's value)."""
    if value is None:
        return None
    try:
        values = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise FmnistError(f"{option} {value!r}: give comma-separated numbers, e.g. {option} 1e-3,3e-3") from None
    if not values:
        raise FmnistError(f"{option} {value!r}: give at least one number")
    return values


def parse_epochs(value: str | None) -> list[int] | None:
    """``"30,50"`` → ``[30, 50]``; None stays None."""
    values = parse_values("--epochs", value)
    if values is None:
        return None
    if any(v != int(v) or v < 1 for v in values):
        raise FmnistError(f"--epochs {value!r}: give whole numbers of epochs, e.g. --epochs 30,50")
    return [int(v) for v in values]


@app.command("sweep")
def sweep_cmd(
    ctx: typer.Context,
    data_source: str | None = DataSource,
    preset: PresetName = Preset,  # type: ignore[valid-type]
    frameworks: str = Frameworks,
    max_epochs: int | None = MaxEpochs,
    seed: int = typer.Option(42, "--seed", min=0, help="Seed of the split and the first training seed."),
    seeds: int = typer.Option(3, "--seeds", min=1, max=20, help="Trainings per grid point (seeds seed…seed+N-1)."),
    lr: str | None = typer.Option(None, "--lr", help="Learning rates to try, comma-separated (default: preset's)."),
    dropout: str | None = typer.Option(None, "--dropout", help="Dropout rates to try, comma-separated."),
    label_smoothing: str | None = typer.Option(
        None, "--label-smoothing", help="Label smoothing values to try, comma-separated."
    ),
    epochs: str | None = typer.Option(
        None, "--epochs", help="Epoch budgets to try, comma-separated (default: --max-epochs or preset's)."
    ),
    workers: int | None = Workers,
    dask_address: str | None = DaskAddress,
    split_store: str | None = SplitStore,
    cluster_class: str | None = ClusterClass,
    cluster_kwargs: str | None = ClusterKwargs,
    adapt_min: int | None = AdaptMin,
    adapt_max: int | None = AdaptMax,
    work_dir: Path = WorkDir,
    experiment: str | None = Experiment,
    verbose: bool = Verbose,
    as_json: bool = typer.Option(False, "--json", help="End with one line of JSON: the sweep's summary."),
) -> None:
    """Train every framework × grid point × seed as nested MLflow runs on Dask; compare mean ± std over seeds.

    Each trial is a Prefect task on a Dask worker (one process, one thread); the table of mean ± std
    official-test accuracy goes to the parent run (comparison/sweep.md).

    Example: fmnist sweep --data-source ../shared/data/fashion-mnist --seeds 3 --lr 1e-3,3e-3 --dropout 0.1,0.2
    """
    kwargs = parse_cluster_kwargs(cluster_kwargs)
    # The flow checks these again (a deployment sets them without the CLI); here a mistake costs no flow run.
    cluster_spec(cluster_class, kwargs, adapt_min, adapt_max, address=dask_address, workers=workers)
    opts = settings(ctx)
    params = {
        "data_source": data_source,
        "preset": str(preset.value),
        "frameworks": parse_frameworks(frameworks),
        "max_epochs": max_epochs,
        "seed": seed,
        "seeds": seeds,
        "lr": parse_values("--lr", lr),
        "dropout": parse_values("--dropout", dropout),
        "label_smoothing": parse_values("--label-smoothing", label_smoothing),
        "epochs": parse_epochs(epochs),
        "workers": workers,
        "dask_address": dask_address,
        "split_store": parse_split_store(split_store),
        "cluster_class": cluster_class,
        "cluster_kwargs": kwargs,
        "adapt_min": adapt_min,
        "adapt_max": adapt_max,
        "work_dir": str(work_dir),
        "experiment": experiment,
    }
    summary = run_flow("sweep", params, opts, verbose=verbose, show=not as_json)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console = opts.console()
    console.print(Markdown(summary["comparison_markdown"]))
    console.print(f"MLflow parent run {summary['parent_run_id']} ({summary['tracking_uri']})")
