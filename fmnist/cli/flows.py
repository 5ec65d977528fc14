"""The commands that run a Prefect flow in this process: ``fmnist run``, ``sweep``, ``ablate``, ``retrain`` and
``score-batch`` (``fmnist ingest --add`` runs the add-batch flow). Without ``PREFECT_API_URL`` Prefect serves an
ephemeral API for the command's duration; the terminal shows the live view, or with ``--verbose`` the flow's logs.
"""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import uuid
from contextlib import nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.markdown import Markdown
from rich.table import Table

from fmnist.cli.app import app, console_of
from fmnist.cli.live import live_view
from fmnist.cli.options import (
    CLUSTER,
    Experiment,
    Preset,
    PresetName,
    PromotionAlpha,
    PromotionMinGain,
    Verbose,
    flow_options,
)
from fmnist.errors import FmnistError, RunFailedError
from fmnist.experiments.cluster import ClusterSpec
from fmnist.experiments.factors import DEFAULT_MARGIN, factor_table, select_factors

# flow name → (module, flow function)
FLOWS = {
    "pipeline": ("flows.pipeline", "fmnist_pipeline"),
    "sweep": ("flows.sweep", "fmnist_sweep"),
    "ablation": ("flows.ablation", "fmnist_ablation"),
    "score-batch": ("flows.score_batch", "fmnist_score_batch"),
    "add-batch": ("flows.batches", "fmnist_add_batch"),
    "retrain": ("flows.retrain", "fmnist_retrain"),
}


def quiet_logs() -> None:
    """Keep Prefect's and Dask's INFO lines off the terminal (Prefect's API still records them). Set in the
    environment before either library is imported, so Dask worker processes started from here inherit it."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")


def start_prefect_api() -> None:
    """Without ``PREFECT_API_URL``, start Prefect's ephemeral API now (it serves until the command exits), one
    command at a time: commands started together on a fresh ``PREFECT_HOME`` would all create its database at once
    and all but one fail, so a file lock in the home lets the first create it."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, get_current_settings

    if PREFECT_API_URL.value():
        return
    home = Path(get_current_settings().home)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "fmnist-api-start.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with get_client(sync_client=True) as client:
            client.api_healthcheck()


def flow_params(ctx: typer.Context, **parsed: Any) -> dict[str, Any]:
    """The command's options as its flow's parameters (but --verbose and --json; the Dask options become one checked
    ``cluster``, so a mistake costs no flow run), with ``parsed`` in place of those the command parsed itself."""
    params = {name: value for name, value in ctx.params.items() if name not in ("verbose", "as_json")}
    cluster = {name: params.pop(name) for name in CLUSTER if name in params}
    return params | ({"cluster": ClusterSpec(**cluster)} if cluster else {}) | parsed


def run_flow(ctx: typer.Context, name: str, params: dict[str, Any], *, live: bool = True) -> dict[str, Any]:
    """Run flow ``name`` (a key of :data:`FLOWS`) with ``params`` and return its summary. The terminal shows a
    live view of its trainings (with ``live``, unless --json or --quiet), or with --verbose the flow's logs."""
    console = console_of(ctx)
    verbose = ctx.params.get("verbose", False)
    if not verbose:
        quiet_logs()
    # A loaded 2-core machine can take longer than Prefect's default 20 s to start the ephemeral API.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    module, function = FLOWS[name]
    flow = getattr(importlib.import_module(module), function)
    start_prefect_api()
    from fmnist.tracking import tracking_uri

    # Paths and choices as their strings, the types the flows declare (a deployment's parameters are JSON).
    params = {key: str(value) if isinstance(value, Path | StrEnum) else value for key, value in params.items()}
    run_name = f"fmnist-{name}-{uuid.uuid4().hex[:8]}"
    live = live and not (verbose or ctx.params.get("as_json") or console.quiet)
    view = live_view(console, tracking_uri(), params.get("experiment"), run_name) if live else nullcontext()
    try:
        with view:
            return flow.with_options(flow_run_name=run_name)(**params)
    except FmnistError:
        raise
    except Exception as exc:
        raise RunFailedError(f"the {name} flow failed: {type(exc).__name__}: {exc}") from exc


@app.command("run")
@flow_options(
    "data_source", "frameworks", "max_epochs", "workers", "dask_address", "split_store", "work_dir", "experiment"
)
def run_cmd(
    ctx: typer.Context,
    preset: PresetName = Preset,
    seed: int = typer.Option(42, "--seed", min=0, help="Seed of the split and of both trainings."),
    seeds: int = typer.Option(1, "--seeds", min=1, max=20, help="Train with N seeds each; compare across seeds."),
    promotion_alpha: float = PromotionAlpha,
    promotion_min_gain: float = PromotionMinGain,
    equivalence_margin: float = typer.Option(
        0.5, "--equivalence-margin", min=0.01, max=100, help="With --seeds > 1: points within which frameworks tie."
    ),
    refresh_data: bool = typer.Option(False, "--refresh-data", help="Re-ingest and re-split even if cached."),
    verbose: bool = Verbose,
    as_json: bool = typer.Option(False, "--json", help="End with one line of JSON: the run's summary."),
    **options: Any,
) -> None:
    """Run ingest → split → train Keras and PyTorch side by side → log everything to MLflow.

    No servers needed: Prefect runs on its ephemeral API and MLflow on ./mlruns (or $MLFLOW_TRACKING_URI); each
    training runs in a Dask worker process of its own.

    Example: fmnist run --data-source ../shared/data/fashion-mnist --max-epochs 5
    """
    summary = run_flow(ctx, "pipeline", flow_params(ctx))
    if as_json:
        typer.echo(json.dumps(summary))
        return
    title = f"MLflow parent run {summary['parent_run_id']} ({summary['tracking_uri']})"
    table = Table("framework", "best epoch", "official test", "run id", "registered", title=title)
    for name, fw in summary["frameworks"].items():
        registered = ", ".join(
            f"{r['name']} v{r['version']} ({'/'.join(r['aliases']) or '-'})" for r in fw["registered"]
        )
        table.add_row(
            name, str(fw["best_epoch"]), f"{100 * fw['metrics']['official_test/acc']:.2f} %", fw["run_id"], registered
        )
    console = console_of(ctx)
    console.print(Markdown(summary["comparison_markdown"]))
    console.print(table)
    console.print(f"[bold]{summary['verdict']}[/]")
    console.print(f"report: {summary['report']}")


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
    if values is not None and any(v != int(v) or v < 1 for v in values):
        raise FmnistError(f"--epochs {value!r}: give whole numbers of epochs, e.g. --epochs 30,50")
    return None if values is None else [int(v) for v in values]


@app.command("sweep")
@flow_options("data_source", "frameworks", "max_epochs", *CLUSTER, "split_store", "work_dir", "experiment")
def sweep_cmd(
    ctx: typer.Context,
    preset: PresetName = Preset,
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
    verbose: bool = Verbose,
    as_json: bool = typer.Option(False, "--json", help="End with one line of JSON: the sweep's summary."),
    **options: Any,
) -> None:
    """Train every framework × grid point × seed as nested MLflow runs on Dask; compare mean ± std over seeds.

    Each trial is a Prefect task on a Dask worker (one process, one thread); the table of mean ± std
    official-test accuracy goes to the parent run (comparison/sweep.md).

    Example: fmnist sweep --data-source ../shared/data/fashion-mnist --seeds 3 --lr 1e-3,3e-3 --dropout 0.1,0.2
    """
    grid = {
        "lr": parse_values("--lr", lr),
        "dropout": parse_values("--dropout", dropout),
        "label_smoothing": parse_values("--label-smoothing", label_smoothing),
        "epochs": parse_epochs(epochs),
    }
    summary = run_flow(ctx, "sweep", flow_params(ctx, **grid))
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console = console_of(ctx)
    console.print(Markdown(summary["comparison_markdown"]))
    console.print(f"MLflow parent run {summary['parent_run_id']} ({summary['tracking_uri']})")


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
@flow_options("data_source", "max_epochs", *CLUSTER, "split_store", "work_dir", "experiment")
def ablate_cmd(
    ctx: typer.Context,
    factors: str | None = typer.Option(
        None,
        "--factors",
        help=f"Factors to switch, comma-separated (default all: {', '.join(f.name for f in factor_table())}).",
    ),
    seed: int = typer.Option(42, "--seed", min=0, help="Seed of the split and the first training seed."),
    seeds: int = typer.Option(5, "--seeds", min=2, max=20, help="Trainings per arm (seeds seed…seed+N-1)."),
    split_seeds: int = typer.Option(1, "--split-seeds", min=1, max=10, help="Splits to repeat every arm on."),
    margin: float = typer.Option(DEFAULT_MARGIN, "--margin", help="Accuracy points within which an effect is none."),
    verbose: bool = Verbose,
    as_json: bool = typer.Option(False, "--json", help="End with one line of JSON: the ablation's summary."),
    **options: Any,
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
    summary = run_flow(ctx, "ablation", flow_params(ctx, factors=parse_factors(factors)))
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console = console_of(ctx)
    console.print(Markdown(summary["ablation_markdown"]))
    if summary["missing"]:
        console.print(f"[bold red]missing trials:[/] {', '.join(summary['missing'])}")
    console.print(
        f"MLflow parent run {summary['parent_run_id']} ({summary['tracking_uri']}); report {summary['report']}"
    )


@app.command("retrain")
@flow_options("data_source", "max_epochs", "workers", "work_dir", "experiment")
def retrain_cmd(
    ctx: typer.Context,
    preset: PresetName = typer.Option("tuned", "--preset", "-p", help="Training recipe."),
    force: bool = typer.Option(False, "--force", help="Retrain even if nothing changed since the champion."),
    verbose: bool = Verbose,
    as_json: bool = typer.Option(False, "--json", help="End with one line of JSON."),
    **options: Any,
) -> None:
    """Retrain on the base release plus every accepted batch if the data changed since the champion was trained
    (what the scheduled and the event-triggered deployments run); otherwise say why not, in seconds.

    Example: fmnist retrain --data-source ../shared/data/fashion-mnist
    """
    summary = run_flow(ctx, "retrain", flow_params(ctx, trigger="cli"))
    if as_json:
        typer.echo(json.dumps(summary))
    elif summary.get("retrained") is False:
        console_of(ctx).print(f"not retrained: {summary['reason']}")
    else:
        console_of(ctx).print(f"retrained: MLflow parent run {summary['parent_run_id']}")


@app.command("score-batch")
def score_batch_cmd(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="PNG/JPEG (28x28 grey) image or folder of them, IDX, CSV or Parquet."),
    model_uri: str = typer.Option("models:/fmnist@champion", "--model-uri", "-m", help="Model URI in MLflow."),
    out_dir: Path | None = typer.Option(
        None, "--out", "-o", help="Folder for predictions.parquet/.csv and summary.json (default data/scores/RUN_ID)."
    ),
    confidence_threshold: float = typer.Option(
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

    check_arguments(source, out_dir, confidence_threshold)  # before Prefect starts: bad input is reported at once
    result = run_flow(ctx, "score-batch", flow_params(ctx), live=False)
    if as_json:
        typer.echo(json.dumps(result))
        return
    summary = result["summary"]
    table = Table("class", "images", "share")
    for name, count in summary["class_counts"].items():
        table.add_row(name, f"{count:,}", f"{100 * count / summary['images']:.1f} %")
    console = console_of(ctx)
    console.print(f"{summary['images']:,} images scored with {model_uri} (version {result['model_version'] or '-'})")
    console.print(table)
    console.print(
        f"mean confidence {summary['mean_confidence']:.3f}; {100 * summary['low_confidence_share']:.1f} % of images"
        f" below {summary['threshold']}"
    )
    console.print(f"predictions in {result['out_dir']}")
    console.print(f"MLflow run {result['run_id']} ({result['tracking_uri']})")
