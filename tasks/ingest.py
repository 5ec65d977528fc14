"""Prefect task: resolve a data source to verified local files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.context import TaskRunContext
from prefect.tasks import exponential_backoff

from fmnist.data.ingest import IngestResult, ingest, source_fingerprint


def _cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return "ingest-" + source_fingerprint(parameters["data_source"])


@task(
    name="ingest",
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    cache_key_fn=_cache_key,
    persist_result=True,
)
def ingest_task(data_source: str | None, cache_dir: Path = Path("data/raw")) -> IngestResult:
    """Download (if a URL) and checksum the source; retried with backoff because networks fail. Cached on the
    source (for local files: their names, sizes and modification times)."""
    return ingest(data_source, cache_dir)
