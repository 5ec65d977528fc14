"""Splits through the artifact store, for workers on other hosts: published once per data version (the Parquet
files and manifest as the artifacts of one MLflow run), fetched and verified by each worker into its cache."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fmnist.data.manifest import MANIFEST_NAME, read_manifest
from fmnist.errors import DataError
from fmnist.tracking import layout
from fmnist.tracking.client import Tracker

CACHE_ENV = "FMNIST_CACHE_DIR"
STORE_ENV = "FMNIST_SPLIT_STORE"
SplitStore = Literal["local", "mlflow"]


@dataclass(frozen=True)
class SplitRef:
    """A published split: the run whose artifacts hold it, and the manifest's sha256 it must match."""

    run_id: str
    manifest_sha256: str


def default_store() -> SplitStore:
    """``$FMNIST_SPLIT_STORE`` (``local`` or ``mlflow``), default ``local``: trials read the flow's folder."""
    value = os.environ.get(STORE_ENV, "local")
    if value not in ("local", "mlflow"):
        raise DataError(f"{STORE_ENV}={value!r}: choose local (trials read the flow's folder) or mlflow")
    return value  # type: ignore[return-value]


def cache_root() -> Path:
    """Where a worker keeps fetched splits and its checkpoints: ``$FMNIST_CACHE_DIR``, else ``~/.cache/fmnist``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "fmnist")


def publish_split(tracker: Tracker, split_dir: Path) -> SplitRef:
    """Upload ``split_dir`` once per manifest (a run tagged ``fmnist.run_kind=split``); return where it is."""
    manifest = read_manifest(split_dir, verify=True)
    sha = manifest.sha256
    existing = tracker.find_run("split.manifest_sha256", sha)
    if existing is not None and tracker.run(existing)["status"] == "FINISHED":
        return SplitRef(existing, sha)
    tags = {layout.RUN_KIND_TAG: "split", "split.manifest_sha256": sha, "data.version": manifest.data_version}
    run_id = tracker.start_parent(f"split {sha[:12]}", tags)
    # The manifest last: a split whose upload was cut off has none, and is never fetched as complete.
    for name in [*(f"{split}.parquet" for split in manifest.splits), MANIFEST_NAME]:
        tracker.log_artifact(run_id, Path(split_dir) / name, layout.SPLIT_DIR)
    tracker.end_run(run_id)
    return SplitRef(run_id, sha)


def fetch_split(tracker: Tracker, ref: SplitRef, root: Path | None = None) -> Path:
    """The published split ``ref`` as a folder in this worker's cache, fetched if not there yet; renamed into place
    only once its manifest and every file are checked, so nothing half-downloaded or changed is used."""
    root = Path(root or cache_root()) / "splits"
    target = root / ref.manifest_sha256
    if _intact(target, ref):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=root, ignore_cleanup_errors=True) as staging:
        fetched = tracker.download_artifact(ref.run_id, layout.SPLIT_DIR, Path(staging))
        if not (fetched / MANIFEST_NAME).is_file():
            raise DataError(f"split {ref.manifest_sha256[:12]} in run {ref.run_id}: no manifest; publish it again")
        found = read_manifest(fetched, verify=True).sha256  # every file against the manifest
        if found != ref.manifest_sha256:
            raise DataError(
                f"split fetched from run {ref.run_id}: manifest sha256 {found[:12]}…, expected"
                f" {ref.manifest_sha256[:12]}…; the artifact store holds other data than was published"
            )
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(fetched, target)
        except OSError:  # another trial on this worker host put it there first
            if not _intact(target, ref):
                raise
    return target


def _intact(folder: Path, ref: SplitRef) -> bool:
    try:
        return (folder / MANIFEST_NAME).is_file() and read_manifest(folder, verify=True).sha256 == ref.manifest_sha256
    except DataError:
        return False
