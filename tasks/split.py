"""Prefect task: write the Parquet splits and their manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.context import TaskRunContext

from fmnist.data.ingest import IngestResult
from fmnist.data.manifest import MANIFEST_NAME
from fmnist.data.prepare import prepare_splits, split_fingerprint


def _cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return "split-" + split_fingerprint(
        parameters["source"], parameters["out_dir"], parameters["seed"], batches_root=parameters.get("batches_root")
    )


@task(name="split", cache_key_fn=_cache_key, persist_result=True)
def split_task(source: IngestResult, out_dir: Path, seed: int, batches_root: Path | None = None) -> Path:
    """Validate and split ``source`` (plus the labelled batches accepted under ``batches_root``) into ``out_dir``;
    return the manifest's path. Cached on the data version, seed and code version: a rerun with unchanged data
    skips it."""
    prepare_splits(source, out_dir, seed=seed, batches_root=batches_root)
    return Path(out_dir) / MANIFEST_NAME
