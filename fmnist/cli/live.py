"""A live view of a running flow, read from MLflow: the stage, and one epoch bar per training. It reads what the
trainings log, wherever they run, so it needs nothing from Prefect but the flow run's name (a tag of the parent run)."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

if TYPE_CHECKING:
    from fmnist.tracking import Tracker

TERMINAL = {"FINISHED", "FAILED", "KILLED"}


def stage(parent_found: bool, statuses: list[str]) -> str:
    """Where a run stands, from its parent run and its trainings' MLflow statuses."""
    if not parent_found:
        return "starting"
    if not statuses:
        return "preparing data"
    if any(s not in TERMINAL for s in statuses):
        return f"training ({sum(s in TERMINAL for s in statuses)}/{len(statuses)} done)"
    return "evaluating and registering"


@contextlib.contextmanager
def live_view(console: Console, tracking_uri: str, experiment: str | None, flow_run_name: str) -> Iterator[None]:
    """Show the view while the flow called ``flow_run_name`` runs in this process, polling MLflow every second."""
    status = Text("starting")
    bars = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[metrics]}"),
        TimeElapsedColumn(),
        console=console,
    )
    tasks: dict[str, TaskID] = {}

    @functools.cache  # made by the first poll that succeeds: the store may not exist before the flow runs
    def tracker() -> Tracker:
        from fmnist.tracking import Tracker  # here: importing MLflow takes seconds that `--help` need not wait

        return Tracker(tracking_uri, experiment)

    def poll() -> None:
        parent = tracker().find_run("prefect.flow_run_name", flow_run_name)
        children = sorted(tracker().children(parent), key=lambda c: c["name"]) if parent else []
        status.plain = stage(parent is not None, [c["status"] for c in children])
        for child in children:
            metrics = child["metrics"]
            epochs = int(metrics.get("epoch", 0))
            total = int(child["params"].get("train.max_epochs", 0)) or None
            if child["status"] == "FINISHED" and total:
                total = epochs  # stopped early: the bar ends where the training did
            shown = f"val acc {metrics['val/acc']:.4f}" if "val/acc" in metrics else ""
            if "official_test/acc" in metrics:
                shown += f" | official test {metrics['official_test/acc']:.4f}"
            if child["name"] not in tasks:
                tasks[child["name"]] = bars.add_task(child["name"], total=total, metrics="")
            bars.update(tasks[child["name"]], completed=epochs, total=total, metrics=shown)

    stop = threading.Event()

    def poll_until_stopped() -> None:
        while not stop.wait(1.0):
            with contextlib.suppress(Exception):  # a store not created yet, a server that hiccups: poll again
                poll()

    with Live(Group(status, bars), console=console, refresh_per_second=4):
        thread = threading.Thread(target=poll_until_stopped, name="fmnist-live", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
        poll()
        status.plain = "done"
