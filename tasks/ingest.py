"""Prefect task: resolve a data source to verified local files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.context import TaskRunContext
from prefect.tasks import exponential_backoff

from fmnist.data.ingest import IngestResult, ingest, source_fingerprint


def _cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    # None (a download missing from the cache folder, or changed there): no cached result is used.
    key = source_fingerprint(parameters["data_source"], parameters["cache_dir"])
    return key and "ingest-" + key


@task(
    name="ingest",
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    cache_key_fn=_cache_key,
    persist_result=True,
)
def ingest_task(data_source: str | None, cache_dir: Path = Path("data/raw")) -> IngestResult:
    """Download (if a URL) and checksum the source; retried with backoff because networks fail. Cached on the
    content: a local source's file checksums; a URL, its cache folder and the checksums of the files there."""
    return ingest(data_source, cache_dir)
