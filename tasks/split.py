"""Prefect tasks: write the Parquet splits and their manifest; publish them to the artifact store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from fmnist.data.ingest import IngestResult
from fmnist.data.manifest import MANIFEST_NAME
from fmnist.data.prepare import prepare_splits, split_fingerprint
from fmnist.tracking import Tracker
from fmnist.tracking.split_store import SplitRef, publish_split


def _cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return "split-" + split_fingerprint(
        parameters["source"], parameters["out_dir"], parameters["seed"], batches_root=parameters.get("batches_root")
    )


@task(name="split", cache_key_fn=_cache_key, persist_result=True)
def split_task(source: IngestResult, out_dir: Path, seed: int, batches_root: Path | None = None) -> Path:
    """Validate and split ``source`` (plus the batches accepted under ``batches_root``) into ``out_dir``; return the
    manifest's path. Cached on the data version, seed and code version."""
    prepare_splits(source, out_dir, seed=seed, batches_root=batches_root)
    return Path(out_dir) / MANIFEST_NAME


@task(name="publish-split", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def publish_split_task(tracking_uri: str, experiment: str | None, split_dir: Path) -> SplitRef:
    """Upload the split folder to the artifact store once per manifest, for workers that cannot read it."""
    return publish_split(Tracker(tracking_uri, experiment), split_dir)
