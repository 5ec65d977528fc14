"""``fmnist ablate``: which framework default, if any, makes Keras and PyTorch train differently."""

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
    MaxEpochs,
    SplitStore,
    Verbose,
    WorkDir,
    Workers,
    parse_split_store,
)
from fmnist.errors import FmnistError
from fmnist.experiments.cluster import cluster_spec, parse_cluster_kwargs
from fmnist.experiments.factors import DEFAULT_MARGIN, factor_table, select_factors


def parse_factors(value: str | None) -> list[str] | None:
    """``"bn_momentum,bn_epsilon"`` → the two names, checked against the factor table; None: every factor."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    try:
        select_factors(names)
    except FmnistError as exc:
        raise FmnistError(f"--factors {value!r}: {exc}") from None
    return names


@app.command("ablate")
def ablate_cmd(
    ctx: typer.Context,
    data_source: str | None = DataSource,
    factors: str | None = typer.Option(
        None,
        "--factors",
        help=f"Factors to switch, comma-separated (default all: {', '.join(f.name for f in factor_table())}).",
    ),
    max_epochs: int | None = MaxEpochs,
    seed: int = typer.Option(42, "--seed", min=0, help="Seed of the split and the first training seed."),
    seeds: int = typer.Option(5, "--seeds", min=2, max=20, help="Trainings per arm (seeds seed…seed+N-1)."),
    split_seeds: int = typer.Option(1, "--split-seeds", min=1, max=10, help="Splits to repeat every arm on."),
    margin: float = typer.Option(DEFAULT_MARGIN, "--margin", help="Accuracy points within which an effect is none."),
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
    as_json: bool = typer.Option(False, "--json", help="End with one line of JSON: the ablation's summary."),
) -> None:
    """Train each framework on its own defaults, with each default switched to the other framework's, and with
    all switched; estimate each default's effect on official-test accuracy.

    Every arm trains --seeds times (on each of --split-seeds splits) as nested MLflow runs on Dask; the parent run
    gets the effects with their 95% intervals, Holm-adjusted p-values and TOST verdicts (comparison/ablation.md,
    metrics ablation/...), a forest plot and the report.

    Example: fmnist ablate --data-source ../shared/data/fashion-mnist --seeds 5
    """
    if not margin > 0:
        raise FmnistError(f"--margin {margin:g}: give a positive number of accuracy points, e.g. --margin 0.5")
    kwargs = parse_cluster_kwargs(cluster_kwargs)
    # The flow checks these again (a deployment sets them without the CLI); here a mistake costs no flow run.
    cluster_spec(cluster_class, kwargs, adapt_min, adapt_max, address=dask_address, workers=workers)
    opts = settings(ctx)
    params = {
        "data_source": data_source,
        "factors": parse_factors(factors),
        "max_epochs": max_epochs,
        "seed": seed,
        "seeds": seeds,
        "split_seeds": split_seeds,
        "margin": margin,
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
    summary = run_flow("ablation", params, opts, verbose=verbose, show=not as_json)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console = opts.console()
    console.print(Markdown(summary["ablation_markdown"]))
    if summary["missing"]:
        console.print(f"[bold red]missing trials:[/] {', '.join(summary['missing'])}")
    console.print(
        f"MLflow parent run {summary['parent_run_id']} ({summary['tracking_uri']}); report {summary['report']}"
    )
