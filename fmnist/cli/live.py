"""A live view of a running flow, read from MLflow: the stage, and one epoch bar per training.

It reads what the trainings log (wherever they run: a local Dask worker or another host), so it needs nothing
from Prefect but the flow run's name, which tags the MLflow parent run.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

if TYPE_CHECKING:
    from fmnist.tracking import Tracker


FLOW_RUN_TAG = "prefect.flow_run_name"
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


class LiveRun:
    """Polls MLflow every ``every`` seconds while the flow called ``flow_run_name`` runs in this process."""

    def __init__(
        self, console: Console, tracking_uri: str, experiment: str | None, flow_run_name: str, every: float = 1.0
    ) -> None:
        self._uri, self._experiment, self._name, self._every = tracking_uri, experiment, flow_run_name, every
        self._status = Text("starting")
        self._bars = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._tracker: Tracker | None = None  # made by the first poll: the store may not exist before the flow runs
        self._live = Live(Group(self._status, self._bars), console=console, refresh_per_second=4, transient=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll_loop, name="fmnist-live", daemon=True)

    def __enter__(self) -> LiveRun:
        self._live.start()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        if kind is None:
            self.poll_once()
            self._status.plain = "done"
        self._live.stop()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.poll_once()
            except Exception:
                continue

    def poll_once(self) -> None:
        """Read the parent run and its trainings once and update the view."""
        if self._tracker is None:
            from fmnist.tracking import Tracker  # here: importing MLflow takes seconds that `--help` need not wait

            self._tracker = Tracker(self._uri, self._experiment)
        tracker = self._tracker
        parent = tracker.find_run(FLOW_RUN_TAG, self._name)
        children = sorted(tracker.children(parent), key=lambda c: c["name"]) if parent else []
        self._status.plain = stage(parent is not None, [c["status"] for c in children])
        for child in children:
            epochs = int(child["metrics"].get("epoch", 0))
            total = int(child["params"].get("train.max_epochs", 0)) or None
            if child["status"] == "FINISHED" and total:
                total = epochs  # stopped early: the bar ends where the training did
            metrics = child["metrics"]
            shown = f"val acc {metrics['val/acc']:.4f}" if "val/acc" in metrics else ""
            if "official_test/acc" in metrics:
                shown += f" | official test {metrics['official_test/acc']:.4f}"
            if child["name"] not in self._tasks:
                self._tasks[child["name"]] = self._bars.add_task(child["name"], total=total, metrics="")
            self._bars.update(self._tasks[child["name"]], completed=epochs, total=total, metrics=shown)
