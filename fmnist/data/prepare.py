"""Ingested files → validated, seeded, stratified Parquet splits plus their manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fmnist import __version__
from fmnist.atomic import staged_files
from fmnist.classes import NUM_CLASSES
from fmnist.data.batch_store import data_version, held_batches, read_batch_part
from fmnist.data.checksum import file_digest
from fmnist.data.ingest import IngestResult, load
from fmnist.data.manifest import RECENT, Manifest, SplitInfo, write_manifest
from fmnist.data.parquet import FORMAT_VERSION, write_split
from fmnist.data.split import SplitSizes, stratified_split

DEFAULT_SEED = 42
REFERENCE_SIZES = SplitSizes()  # the study's 58,200 / 900 / 900


def prepare_splits(
    source: IngestResult,
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    sizes: SplitSizes = REFERENCE_SIZES,
    batches_root: Path | None = None,
) -> Manifest:
    """Validate ``source``, split it and write ``train``/``val``/``test``/``official_test`` + manifest.

    With labelled batches accepted under ``batches_root``, ``train`` also gets each batch's training rows and
    ``recent`` holds their recent slices; the base release's split stays exactly what it is without them.

    All parsing and validation happens before the first byte is written, and every file is written in a staging
    folder before any is renamed into place, the manifest last: a failure (a full disk included) leaves
    ``out_dir`` as it was.
    """
    raw = load(source)
    index = stratified_split(raw.train_labels, sizes, seed)
    arrays = {name: (raw.train_images[i], raw.train_labels[i]) for name, i in index.items()}
    arrays["official_test"] = (raw.test_images, raw.test_labels)
    base_train_rows = len(arrays["train"][1])
    batches = held_batches(batches_root) if batches_root else []
    if batches:
        added = [read_batch_part(batches_root, b, "train") for b in batches]  # type: ignore[arg-type]
        recent = [read_batch_part(batches_root, b, "recent") for b in batches]  # type: ignore[arg-type]
        train_x = np.concatenate([arrays["train"][0].reshape(base_train_rows, -1), *(x for x, _ in added)])
        arrays["train"] = (train_x, np.concatenate([arrays["train"][1], *(y for _, y in added)]))
        arrays[RECENT] = (np.concatenate([x for x, _ in recent]), np.concatenate([y for _, y in recent]))

    out_dir = Path(out_dir)
    splits: dict[str, SplitInfo] = {}
    with staged_files(out_dir) as staging:
        for name, (images, labels) in arrays.items():
            path = staging / f"{name}.parquet"
            write_split(path, images, labels)
            splits[name] = SplitInfo(
                file=path.name,
                rows=int(labels.shape[0]),
                class_counts=np.bincount(labels, minlength=NUM_CLASSES).tolist(),
                sha256=file_digest(path, "sha256"),
            )
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        seed=seed,
        sizes={"train": splits["train"].rows, "val": sizes.val, "test": sizes.test},
        source={"kind": source.kind, "md5": dict(sorted(source.md5.items())), "fmnist_version": __version__},
        splits=splits,
        data_version=data_version(source.md5, batches),
        batches=[b.id for b in batches],
        base_train_rows=base_train_rows,
    )
    write_manifest(out_dir, manifest)
    return manifest


def split_fingerprint(
    source: IngestResult,
    out_dir: Path,
    seed: int,
    sizes: SplitSizes = REFERENCE_SIZES,
    batches_root: Path | None = None,
) -> str:
    """What determines a split's bytes: source checksums, accepted batches, seed, sizes, code version, and where
    it goes."""
    from fmnist.data.checksum import bytes_digest

    version = data_version(source.md5, held_batches(batches_root) if batches_root else [])
    parts = [version, str(seed), repr(sizes), __version__, str(Path(out_dir).absolute())]
    return bytes_digest("|".join(parts).encode())


def splits_ready(source: IngestResult, out_dir: Path, seed: int, batches_root: Path | None = None) -> bool:
    """True when ``out_dir`` already holds intact splits of ``source`` with ``seed`` and every batch accepted under
    ``batches_root`` (hashes verified)."""
    from fmnist.data.manifest import read_manifest
    from fmnist.errors import DataError

    try:
        manifest = read_manifest(out_dir, verify=True)
    except DataError:
        return False
    batches = [b.id for b in held_batches(batches_root)] if batches_root else []
    return (
        manifest.seed == seed
        and manifest.source.get("md5") == dict(sorted(source.md5.items()))
        and manifest.batches == batches
    )
