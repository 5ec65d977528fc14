"""Prefect task: write the run report and attach it to the MLflow parent run."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from fmnist.evaluate.report import build_report, log_report, write_report
from fmnist.tracking import Tracker


@task(name="report", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def report_task(tracking_uri: str, experiment: str | None, parent_run_id: str, out_dir: Path) -> Path:
    """Build the report from MLflow, write report.html (self-contained) + report.md; return the HTML path."""
    tracker = Tracker(tracking_uri, experiment)
    html_path, _ = write_report(build_report(tracker, parent_run_id), out_dir)
    log_report(tracker, parent_run_id, out_dir)
    return html_path
