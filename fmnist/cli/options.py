"""Options that several commands share, declared once so their names, defaults and help stay the same."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from fmnist.config import FRAMEWORKS, preset_names
from fmnist.data.ingest import SOURCE_ENV
from fmnist.errors import FmnistError
from fmnist.experiments.cluster import parse_cluster_kwargs
from fmnist.registry.promotion import DEFAULT_ALPHA, DEFAULT_MIN_GAIN

PresetName = StrEnum("PresetName", {name: name for name in preset_names()})

SOURCE_HELP = (
    "Directory with the four official .gz files or the two Kaggle CSVs, the path of fashion-mnist_train.csv,"
    " or a base URL. Default: the official download location (with a mirror)."
)
DataSource = typer.Option(None, "--data-source", "-s", envvar=SOURCE_ENV, help=SOURCE_HELP, show_envvar=True)
Preset = typer.Option("seed", "--preset", "-p", help="Training recipe: seed, parity or tuned.")
MaxEpochs = typer.Option(None, "--max-epochs", min=1, help="Override the preset's epochs.")
WorkDir = typer.Option(Path("data"), "--work-dir", file_okay=False, help="Downloads, splits and checkpoints.")
Experiment = typer.Option(None, "--experiment", help="MLflow experiment (default fmnist-pipeline).")
Verbose = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs instead of the live view.")
PromotionAlpha = typer.Option(
    DEFAULT_ALPHA, "--promotion-alpha", "--alpha", min=0.0, max=0.5,
    help="Promote only if a one-sided exact McNemar test against the champion gives p below this.",
)  # fmt: skip
PromotionMinGain = typer.Option(
    DEFAULT_MIN_GAIN, "--promotion-min-gain", "--min-gain", min=0.0, max=1.0,
    help="Promote only if official-test accuracy rises by at least this fraction (0.002 = 0.2 points).",
)  # fmt: skip
SplitDir = typer.Option(
    None, "--data", "-d", exists=True, file_okay=False, help="Split folder (default: the one the runs used)."
)


def _run_id(value: str) -> str:
    # Checked here, before MLflow is imported: an id is also pasted into MLflow's search filters.
    if not re.fullmatch(r"[0-9a-f]{32}", value):
        raise typer.BadParameter(f"{value!r} is not an MLflow run id (32 hex digits, e.g. from `fmnist run --json`)")
    return value


RunId = typer.Option(..., "--run-id", "-r", callback=_run_id, help="The MLflow parent run of a pipeline execution.")


def parse_frameworks(value: str) -> list[str]:
    """``"keras,torch"`` → ``["keras", "torch"]``, rejecting unknown names."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in FRAMEWORKS]
    if not names or unknown:
        raise FmnistError(f"--frameworks {value!r}: choose from {', '.join(FRAMEWORKS)} (comma-separated)")
    return list(dict.fromkeys(names))


def parse_split_store(value: str | None) -> str | None:
    """``--split-store``: ``local``, ``mlflow`` or unset (the flow's default)."""
    if value not in (None, "local", "mlflow"):
        raise FmnistError(f"--split-store {value!r}: choose local or mlflow")
    return value


Frameworks = typer.Option(
    "keras,torch", "--frameworks", "-f", callback=parse_frameworks, help="Comma-separated frameworks."
)
Workers = typer.Option(None, "--workers", "-w", min=1, help="Local Dask workers (default: one per CPU).")
DaskAddress = typer.Option(
    None, "--dask-address", help="Use this Dask scheduler (tcp://host:8786) instead of a local cluster."
)
SplitStore = typer.Option(
    None, "--split-store", envvar="FMNIST_SPLIT_STORE", show_envvar=True, callback=parse_split_store,
    help="mlflow: trials fetch the split from MLflow's artifact store (workers need no shared disk); local: default.",
)  # fmt: skip
ClusterClass = typer.Option(
    None, "--cluster-class",
    help="Start this Dask cluster class for the run instead of a local cluster, e.g. dask_jobqueue.SLURMCluster.",
)  # fmt: skip
ClusterKwargs = typer.Option(
    None,
    "--cluster-kwargs",
    callback=parse_cluster_kwargs,
    help="""Keyword arguments of --cluster-class as a JSON object, e.g. '{"n_workers": 2}'.""",
)
AdaptMin = typer.Option(None, "--adapt-min", help="Scale the started cluster adaptively, down to this many workers.")
AdaptMax = typer.Option(None, "--adapt-max", help="Scale the started cluster adaptively, up to this many workers.")

# Options that the flows take as parameters of the same names: name → (type, option). The callbacks turn values
# into the flows' types while the command line is read, before any flow starts.
FLOW_OPTIONS: dict[str, tuple[Any, Any]] = {
    "data_source": (str | None, DataSource),
    "frameworks": (str, Frameworks),
    "max_epochs": (int | None, MaxEpochs),
    "workers": (int | None, Workers),
    "dask_address": (str | None, DaskAddress),
    "split_store": (str | None, SplitStore),
    "cluster_class": (str | None, ClusterClass),
    "cluster_kwargs": (str | None, ClusterKwargs),
    "adapt_min": (int | None, AdaptMin),
    "adapt_max": (int | None, AdaptMax),
    "work_dir": (Path, WorkDir),
    "experiment": (str | None, Experiment),
}
# The Dask options, which a flow takes as one parameter, ``cluster`` (a ClusterSpec).
CLUSTER = ("workers", "dask_address", "cluster_class", "cluster_kwargs", "adapt_min", "adapt_max")


def flow_options(*names: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the options ``names`` of :data:`FLOW_OPTIONS`, after its own but before --verbose and --json;
    it takes them as ``**options`` and hands them to its flow by the same names."""

    def add(command: Callable[..., None]) -> Callable[..., None]:
        own = [p for p in inspect.signature(command).parameters.values() if p.kind is not p.VAR_KEYWORD]
        keyword = inspect.Parameter.KEYWORD_ONLY
        added = [
            inspect.Parameter(n, keyword, default=FLOW_OPTIONS[n][1], annotation=FLOW_OPTIONS[n][0]) for n in names
        ]
        last = [p.replace(kind=keyword) for p in own if p.name in ("verbose", "as_json")]
        params = [p for p in own if p.name not in ("verbose", "as_json")] + added + last
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]  # what typer reads
        return command

    return add
