"""``fmnist run``: the whole pipeline flow, in this process, on Prefect's ephemeral API and the local MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markdown import Markdown
from rich.table import Table

from fmnist.cli.app import app, settings
from fmnist.cli.flows import run_flow
from fmnist.cli.options import (
    DaskAddress,
    DataSource,
    Experiment,
    Frameworks,
    MaxEpochs,
    Preset,
    PromotionAlpha,
    PromotionMinGain,
    SplitStore,
    Verbose,
    WorkDir,
    Workers,
    parse_split_store,
)
from fmnist.cli.train import PresetName
from fmnist.errors import FmnistError


def parse_frameworks(value: str) -> list[str]:
    """``"keras,torch"`` → ``["keras", "torch"]``, rejecting unknown names."""
    from fmnist.train.trainers import FRAMEWORKS

    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in FRAMEWORKS]
    if not names or unknown:
        raise FmnistError(f"--frameworks {value!r}: choose from {', '.join(FRAMEWORKS)} (comma-separated)")
    return list(dict.fromkeys(names))


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    data_source: str | None = DataSource,
    preset: PresetName = Preset,  # type: ignore[valid-type]
    frameworks: str = Frameworks,
    max_epochs: int | None = MaxEpochs,
    seed: int = typer.Option(42, "--seed", min=0, help="Seed of the split and of both trainings."),
    seeds: int = typer.Option(1, "--seeds", min=1, max=20, help="Train with N seeds each; compare across seeds."),
    promotion_alpha: float = PromotionAlpha,
    promotion_min_gain: float = PromotionMinGain,
    equivalence_margin: float = typer.Option(
        0.5, "--equivalence-margin", min=0.01, max=100, help="With --seeds > 1: points within which frameworks tie."
    ),
    refresh_data: bool = typer.Option(False, "--refresh-data", help="Re-ingest and re-split even if cached."),
    workers: int | None = Workers,
    dask_address: str | None = DaskAddress,
    split_store: str | None = SplitStore,
    work_dir: Path = WorkDir,
    experiment: str | None = Experiment,
    verbose: bool = Verbose,
    as_json: bool = typer.Option(False, "--json", help="End with one line of JSON: the run's summary."),
) -> None:
    """Run ingest → split → train Keras and PyTorch side by side → log everything to MLflow.

    No servers needed: Prefect runs on its ephemeral API and MLflow on ./mlruns (or $MLFLOW_TRACKING_URI); each
    training runs in a Dask worker process of its own.

    Example: fmnist run --data-source ../shared/data/fashion-mnist --max-epochs 5
    """
    opts = settings(ctx)
    params = {
        "data_source": data_source,
        "preset": str(preset.value),
        "frameworks": parse_frameworks(frameworks),
        "max_epochs": max_epochs,
        "seed": seed,
        "seeds": seeds,
        "promotion_alpha": promotion_alpha,
        "equivalence_margin": equivalence_margin,
        "promotion_min_gain": promotion_min_gain,
        "refresh_data": refresh_data,
        "workers": workers,
        "dask_address": dask_address,
        "split_store": parse_split_store(split_store),
        "work_dir": str(work_dir),
        "experiment": experiment,
    }
    summary = run_flow("pipeline", params, opts, verbose=verbose, show=not as_json)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console = opts.console()
    console.print(Markdown(summary["comparison_markdown"]))
    table = Table(title=f"MLflow parent run {summary['parent_run_id']} ({summary['tracking_uri']})")
    for col in ("framework", "best epoch", "official test", "run id", "registered"):
        table.add_column(col)
    for name, fw in summary["frameworks"].items():
        registered = ", ".join(
            f"{r['name']} v{r['version']} ({'/'.join(r['aliases']) or '-'})" for r in fw["registered"]
        )
        table.add_row(
            name, str(fw["best_epoch"]), f"{100 * fw['metrics']['official_test/acc']:.2f} %", fw["run_id"], registered
        )
    console.print(table)
    console.print(f"[bold]{summary['verdict']}[/]")
    console.print(f"report: {summary['report']}")
