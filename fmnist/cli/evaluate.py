"""``fmnist evaluate`` and ``fmnist register``: the pipeline's last two stages, on an existing parent run."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import typer
from rich.markdown import Markdown

from fmnist.cli.app import app, settings
from fmnist.cli.options import PromotionAlpha, PromotionMinGain, RunId, SplitDir
from fmnist.errors import FmnistError


def _children(tracker: object, run_id: str) -> list[dict]:
    children = [c for c in tracker.children(run_id) if c["status"] == "FINISHED"]  # type: ignore[attr-defined]
    if not children:
        raise FmnistError(f"run {run_id} has no finished framework runs; is it a pipeline's parent run?")
    return children


def _split_dir(children: list[dict], override: Path | None) -> Path:
    if override is not None:
        return override
    dirs = {c["params"].get("data.split_dir") for c in children} - {None}
    if len(dirs) != 1:
        raise FmnistError("cannot tell which splits the runs used; pass --data DIR")
    return Path(dirs.pop())


@app.command("evaluate")
def evaluate_cmd(
    ctx: typer.Context,
    run_id: str = RunId,
    data: Path | None = SplitDir,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score each framework's best checkpoint from MLflow and log the comparison to the parent run.

    Example: fmnist evaluate --run-id 0a1b2c3d4e5f...
    """
    from fmnist.evaluate.scoring import evaluate_runs
    from fmnist.tracking import Tracker

    tracker = Tracker()
    children = _children(tracker, run_id)
    split_dir = _split_dir(children, data)
    by_fw: dict[str, dict[int, str]] = defaultdict(dict)
    for c in children:
        by_fw[c["framework"]][c["seed"] if c["seed"] is not None else 0] = c["run_id"]
    result = evaluate_runs(tracker, run_id, by_fw, split_dir)
    if as_json:
        typer.echo(json.dumps({"verdict": result.verdict, "accuracy": result.accuracy, "metrics": result.metrics}))
        return
    settings(ctx).console().print(Markdown(result.markdown))


@app.command("register")
def register_cmd(
    ctx: typer.Context,
    run_id: str = RunId,
    alpha: float = PromotionAlpha,
    min_gain: float = PromotionMinGain,
    data: Path | None = SplitDir,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Register each framework's evaluated model and the better one as `fmnist`; move `champion` by the rule.

    Runs the pipeline's register task, under its registry lock (on $PREFECT_API_URL, else Prefect's ephemeral API).

    Example: fmnist register --run-id 0a1b2c3d4e5f... --alpha 0.05
    """
    from fmnist.cli.flows import quiet_logs
    from fmnist.registry.registration import SELECTION_METRIC
    from fmnist.tracking import Tracker

    quiet_logs()
    # The task runs outside any flow run: Prefect keeps its log lines here instead of warning that it cannot
    # attach them to one.
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    tracker = Tracker()
    children = _children(tracker, run_id)
    split_dir = _split_dir(children, data)
    if any(SELECTION_METRIC not in c["metrics"] for c in children):
        raise FmnistError(f"run {run_id} is not evaluated yet; run `fmnist evaluate --run-id {run_id}` first")
    # As the pipeline does: each framework's training with the best validation accuracy (never the official test).
    best: dict[str, dict] = {}
    for c in children:
        if (
            c["framework"] not in best
            or c["metrics"][SELECTION_METRIC] > best[c["framework"]]["metrics"][SELECTION_METRIC]
        ):
            best[c["framework"]] = c
    models = {fw: (_model_uri(tracker, c["run_id"]), c["run_id"]) for fw, c in best.items()}
    accuracy = {fw: c["metrics"][SELECTION_METRIC] for fw, c in best.items()}
    from tasks.register import register_task

    registrations = register_task(tracker.uri, None, models, accuracy, split_dir, alpha, min_gain)
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in registrations]))
        return
    console = settings(ctx).console()
    for r in registrations:
        console.print(f"{r.name} v{r.version} ({', '.join(r.aliases) or 'no alias'}): {r.reason}", markup=False)


def _model_uri(tracker: object, run_id: str) -> str:
    return f"models:/{tracker.logged_model_id(run_id)}"  # type: ignore[attr-defined]
