"""Accepted labelled batches: immutable, checksummed folders beside the base release, and the data version.

Layout, and why a batch is renamed into place under a lock: docs/retraining.md, 'Adding a batch'.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from pydantic.dataclasses import dataclass

from fmnist.atomic import atomic_folder
from fmnist.classes import NUM_CLASSES
from fmnist.data.labelled_batch import LabelledBatch
from fmnist.data.manifest import RECENT, STRICT, file_digest, read_checked, read_strict_json
from fmnist.data.parquet import parse_split, write_split
from fmnist.data.split import SplitSizes, stratified_split
from fmnist.errors import DataError

BATCH_JSON = "batch.json"
BATCHES_DIR = "batches"  # inside the work folder, beside raw/ and splits/
# Share of each batch kept out of training as the "recent" evaluation set (stratified by label).
RECENT_FRACTION = 0.2


@dataclass(frozen=True, config=STRICT)
class BatchInfo:
    """One accepted batch (``batch.json``); its id is ``NNNN-<first 12 hex of content_sha256>``."""

    id: str
    sequence: int
    source: str
    format: str
    added_at: str
    rows: int
    train_rows: int
    recent_rows: int
    class_counts: list[int]
    content_sha256: str  # of the labelled pixels themselves, whatever the file layout
    files: dict[str, str]  # file name → sha256
    seed: int


def row_keys(pixels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A 64-bit key per (image, label): equal images with equal labels get equal keys."""
    rows = np.concatenate([np.ascontiguousarray(pixels, dtype=np.uint8), labels.astype(np.uint8)[:, None]], axis=1)
    digests = b"".join(hashlib.blake2b(row.tobytes(), digest_size=8).digest() for row in rows)
    return np.frombuffer(digests, dtype=np.uint64)


def held_batches(root: Path | None) -> list[BatchInfo]:
    """The accepted batches under ``root``, in the order they were added (none if there is no such folder)."""
    if root is None or not Path(root).is_dir():
        return []
    infos = [_read_info(folder) for folder in sorted(Path(root).iterdir()) if folder.is_dir() and folder.name[0] != "."]
    for expected, info in enumerate(infos, start=1):
        if info.sequence != expected:
            raise DataError(
                f"{Path(root) / info.id}: batch number {info.sequence}, expected {expected}; a batch is missing"
            )
    return infos


def _read_info(folder: Path) -> BatchInfo:
    path = folder / BATCH_JSON
    if not path.is_file():
        raise DataError(f"{folder}: a batch folder without {BATCH_JSON}; move it out of the batch store")
    info = read_strict_json(path, BatchInfo, "batch record", "move the folder out of the batch store")
    if info.id != folder.name:
        raise DataError(f"{path}: names batch {info.id} but sits in folder {folder.name}")
    return info


def read_batch_part(root: Path, info: BatchInfo, part: str) -> tuple[np.ndarray, np.ndarray]:
    """``train`` or ``recent`` rows of batch ``info``, checked against its recorded sha256."""
    file = Path(root) / info.id / f"{part}.parquet"
    missing = f"missing from batch {info.id}; the batch store is damaged"
    changed = "the batch changed after it was accepted"
    return parse_split(read_checked(file, info.files[file.name], BATCH_JSON, missing, changed), file)


def concat_rows(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, labels) pairs as one pair."""
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def data_version(base_md5: Mapping[str, str], batches: Sequence[BatchInfo]) -> str:
    """The digest of the base release's files and every accepted batch, in order: it names exactly the data held."""
    key = {"base": dict(sorted(base_md5.items())), "batches": [b.content_sha256 for b in batches]}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def batches_label(batch_ids: Sequence[str]) -> str:
    """The batch ids as one param or tag value (``data.batches``): comma-separated, ``none`` for none."""
    return ",".join(batch_ids) or "none"


def parse_batches_label(label: str | None) -> list[str]:
    """The batch ids a ``data.batches`` value names (none for a missing value)."""
    return [b for b in (label or "none").split(",") if b and b != "none"]


def accept_batch(
    root: Path,
    batch: LabelledBatch,
    source: str,
    held_keys: np.ndarray,
    *,
    added_at: str,
    seed: int = 0,
) -> BatchInfo:
    """Record ``batch`` as the next batch under ``root``. A DataError, nothing written, when it repeats an accepted
    batch or holds an image (with its label) twice or already held (``held_keys``: :func:`row_keys`)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    n = len(batch.labels)
    # Identity from the labelled pixels, whatever the file layout it came in.
    digest = hashlib.sha256(
        np.ascontiguousarray(batch.labels, np.uint8).tobytes() + np.ascontiguousarray(batch.pixels).tobytes()
    ).hexdigest()
    keys = row_keys(batch.pixels, batch.labels)
    repeated = np.ones(n, dtype=bool)
    repeated[np.unique(keys, return_index=True)[1]] = False  # every row but the first of its kind
    duplicate = repeated | np.isin(keys, held_keys)
    # One batch at a time: the next number and the duplicate check must see every batch accepted before.
    with open(root / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        held = held_batches(root)
        for info in held:
            if info.content_sha256 == digest:
                raise DataError(
                    f"{source}: already added as batch {info.id} (same images and labels); nothing recorded"
                )
        if duplicate.any():
            first = batch.sources[int(duplicate.argmax())]
            raise DataError(
                f"{source}: {duplicate.sum()} of {n} images are already held (first: {first});"
                " remove them and add the batch again; nothing recorded"
            )
        parts = stratified_split(batch.labels, SplitSizes(val=min(round(RECENT_FRACTION * n), n - 1), test=0), seed)
        batch_id = f"{len(held) + 1:04d}-{digest[:12]}"
        files = {"train.parquet": parts["train"], f"{RECENT}.parquet": parts["val"]}
        with atomic_folder(root / batch_id) as staging:
            for name, rows in files.items():
                write_split(staging / name, batch.pixels[rows], batch.labels[rows])
            info = BatchInfo(
                id=batch_id,
                sequence=len(held) + 1,
                source=source,
                format=batch.format,
                added_at=added_at,
                rows=n,
                train_rows=len(parts["train"]),
                recent_rows=len(parts["val"]),
                class_counts=np.bincount(batch.labels, minlength=NUM_CLASSES).tolist(),
                content_sha256=digest,
                files={name: file_digest(staging / name, "sha256") for name in files},
                seed=seed,
            )
            (staging / BATCH_JSON).write_text(json.dumps(asdict(info), indent=2, sort_keys=True) + "\n")
    return info
