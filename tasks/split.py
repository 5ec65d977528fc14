"""Prefect task: write the Parquet splits and their manifest."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from fmnist.data.ingest import IngestResult
from fmnist.data.manifest import MANIFEST_NAME
from fmnist.data.prepare import prepare_splits


@task(name="split")
def split_task(source: IngestResult, out_dir: Path, seed: int) -> Path:
    """Validate and split ``source`` into ``out_dir``; return the manifest's path."""
    prepare_splits(source, out_dir, seed=seed)
    return Path(out_dir) / MANIFEST_NAME
