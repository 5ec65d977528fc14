"""``fmnist report``."""

from __future__ import annotations

from pathlib import Path

import typer

from fmnist.cli.app import app, settings
from fmnist.cli.options import RunId
from fmnist.errors import FmnistError


@app.command("report")
def report_cmd(
    ctx: typer.Context,
    run_id: str = RunId,
    out: Path = typer.Option(
        Path("report"), "--out", "-o", file_okay=False, help="Folder for report.html, report.md and figures."
    ),
    log: bool = typer.Option(True, "--log/--no-log", help="Also attach the report to the MLflow parent run."),
) -> None:
    """Write a self-contained HTML report (images inlined) and its Markdown twin for a pipeline run.

    Example: fmnist report --run-id 0a1b2c3d4e5f... --out report/
    """
    from fmnist.evaluate.report import build_report, log_report, write_report
    from fmnist.tracking import Tracker

    tracker = Tracker()
    if not tracker.children(run_id):
        raise FmnistError(f"run {run_id}: no pipeline run with framework runs in {tracker.uri}; check the id")
    html_path, md_path = write_report(build_report(tracker, run_id), out)
    if log:
        log_report(tracker, run_id, out)
    settings(ctx).console().print(f"report: {html_path} and {md_path}")
