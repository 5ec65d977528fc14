"""Ingested files → validated, seeded, stratified Parquet splits plus their manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from fmnist import __version__
from fmnist.atomic import staged_files
from fmnist.classes import NUM_CLASSES
from fmnist.data.batch_store import concat_rows, data_version, held_batches, read_batch_part
from fmnist.data.ingest import IngestResult, load
from fmnist.data.manifest import RECENT, Manifest, SplitInfo, file_digest, read_manifest, write_manifest
from fmnist.data.parquet import FORMAT_VERSION, write_split
from fmnist.data.split import SplitSizes, stratified_split
from fmnist.errors import DataError

DEFAULT_SEED = 42
REFERENCE_SIZES = SplitSizes()  # the study's 58,200 / 900 / 900


def prepare_splits(
    source: IngestResult,
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    sizes: SplitSizes = REFERENCE_SIZES,
    batches_root: Path | None = None,
) -> Manifest:
    """Validate ``source``, split it and write ``train``/``val``/``test``/``official_test`` + manifest. Batches under
    ``batches_root`` add their training rows to ``train`` and their recent slices as ``recent``; the base release's
    split is the same with or without them. All is staged first, the manifest last: a failure (a full disk
    included) leaves ``out_dir`` as it was."""
    raw = load(source)
    index = stratified_split(raw.train_labels, sizes, seed)
    arrays = {name: (raw.train_images[i].reshape(len(i), -1), raw.train_labels[i]) for name, i in index.items()}
    arrays["official_test"] = (raw.test_images, raw.test_labels)
    batches = held_batches(batches_root)
    if batches:
        arrays["train"] = concat_rows([arrays["train"], *(read_batch_part(batches_root, b, "train") for b in batches)])
        arrays[RECENT] = concat_rows([read_batch_part(batches_root, b, RECENT) for b in batches])
    splits: dict[str, SplitInfo] = {}
    with staged_files(Path(out_dir)) as staging:
        for name, (images, labels) in arrays.items():
            path = staging / f"{name}.parquet"
            write_split(path, images, labels)
            splits[name] = SplitInfo(
                file=path.name,
                rows=len(labels),
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
        base_train_rows=len(index["train"]),
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
    """What determines a split's bytes: the data version, seed, sizes, code version, and where it goes."""
    version = data_version(source.md5, held_batches(batches_root))
    parts = [version, str(seed), repr(sizes), __version__, str(Path(out_dir).absolute())]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def splits_ready(source: IngestResult, out_dir: Path, seed: int, batches_root: Path | None = None) -> bool:
    """True when ``out_dir`` already holds intact splits (hashes verified) of ``source`` and every batch accepted
    under ``batches_root``, made with ``seed``."""
    try:
        manifest = read_manifest(out_dir, verify=True)
    except DataError:
        return False
    return manifest.seed == seed and manifest.data_version == data_version(source.md5, held_batches(batches_root))
