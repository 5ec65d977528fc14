"""Prefect task: resolve a data source to verified local files."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.tasks import exponential_backoff

from fmnist.data.ingest import IngestResult, ingest


@task(name="ingest", retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=5))
def ingest_task(data_source: str | None, cache_dir: Path = Path("data/raw")) -> IngestResult:
    """Download (if a URL) and checksum the source; retried with backoff because networks fail."""
    return ingest(data_source, cache_dir)
