"""Add a labelled batch: validate it, refuse duplicates, record it, check it for drift and log the checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fmnist.data.batch_store import (
    BatchInfo,
    accept_batch,
    concat_rows,
    held_batches,
    parse_batches_label,
    read_batch_part,
    row_keys,
)
from fmnist.data.labelled_batch import read_labelled_batch
from fmnist.data.manifest import RECENT, SPLIT_NAMES, read_manifest, read_verified_split
from fmnist.evaluate.drift import ChampionScores, DriftReport, DriftThresholds, check_drift
from fmnist.redaction import redact
from fmnist.registry.registration import CROSS_FRAMEWORK_NAME, champion_tags
from fmnist.serve.model import Classifier
from fmnist.tracking import Tracker, layout

BATCH_KIND = "batch"


@dataclass(frozen=True)
class BatchCheck:
    """An accepted batch and its drift checks, as the flow returns them."""

    batch: BatchInfo
    drift: DriftReport
    run_id: str
    data_version: str


def _base_split(split_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Split ``name`` of the base release (``train`` without the batches' rows the split appends)."""
    pixels, labels = read_verified_split(split_dir, name)
    rows = read_manifest(split_dir, verify=False).base_train_rows if name == "train" else 0
    return (pixels[:rows], labels[:rows]) if rows else (pixels, labels)


def held_keys(split_dir: Path, batches_root: Path) -> np.ndarray:
    """:func:`row_keys` of every image held: the base release (its four splits) and every accepted batch."""
    parts = [_base_split(split_dir, name) for name in SPLIT_NAMES]
    parts += [read_batch_part(batches_root, info, p) for info in held_batches(batches_root) for p in ("train", RECENT)]
    return np.concatenate([row_keys(*part) for part in parts])


def add_batch(source: Path, split_dir: Path, batches_root: Path, added_at: str, seed: int = 0) -> BatchInfo:
    """Validate the labelled batch at ``source`` and record it under ``batches_root``; DataError (nothing recorded)
    for a bad file, a duplicate batch or any image already held. ``split_dir``: the base release's split."""
    batch = read_labelled_batch(Path(source))
    return accept_batch(
        batches_root, batch, redact(str(source)), held_keys(split_dir, batches_root), added_at=added_at, seed=seed
    )


def reference_data(
    split_dir: Path, batches_root: Path, batch_ids: list[str] | None, before: BatchInfo
) -> tuple[np.ndarray, np.ndarray]:
    """The base release's training rows plus those of ``batch_ids`` (None: every batch before ``before``)."""
    chosen = [
        info
        for info in held_batches(batches_root)
        if (info.sequence < before.sequence if batch_ids is None else info.id in batch_ids)
    ]
    return concat_rows([_base_split(split_dir, "train"), *(read_batch_part(batches_root, b, "train") for b in chosen)])


def champion_scores(
    tracker: Tracker, split_dir: Path, version: str, pixels: np.ndarray, labels: np.ndarray
) -> ChampionScores:
    """The champion's correctness and confidence on the validation images and on ``pixels``, in this process,
    scored in NumPy: adding a batch does not wait for TensorFlow or PyTorch to import."""
    val_x, val_y = read_verified_split(split_dir, "val")
    champion = Classifier.from_uri(tracker, f"models:/{CROSS_FRAMEWORK_NAME}/{version}", numpy=True)
    on_val, on_batch = (champion.predict_proba(x) for x in (val_x, pixels))
    return ChampionScores(
        version, on_val.argmax(1) == val_y, on_val.max(1), on_batch.argmax(1) == labels, on_batch.max(1)
    )


def check_batch(
    tracker: Tracker,
    split_dir: Path,
    batches_root: Path,
    info: BatchInfo,
    data_version: str,
    thresholds: DriftThresholds = DriftThresholds(),  # noqa: B008 - frozen
) -> BatchCheck:
    """Check batch ``info`` for drift against the champion's training data (no champion: every earlier batch) and
    log it as an MLflow run: tags ``batch.id``, ``data.version``, ``drift.*``; metrics ``drift/...``; datasets."""
    champion, tags = champion_tags(tracker)
    trained_on = parse_batches_label(tags.get("data.batches")) if champion else None
    ref_x, ref_y = reference_data(split_dir, batches_root, trained_on, info)
    x, y = concat_rows([read_batch_part(batches_root, info, part) for part in ("train", RECENT)])
    scores = champion_scores(tracker, split_dir, champion, x, y) if champion is not None else None
    report = check_drift(ref_x, ref_y, x, y, scores, thresholds)
    run_id = tracker.start_parent(
        f"batch {info.id}",
        {
            layout.RUN_KIND_TAG: BATCH_KIND,
            "batch.id": info.id,
            "batch.source": info.source,
            "data.version": data_version,
            "drift.status": report.status,
            "drift.reasons": "; ".join(report.reasons)[:5000] or "none",
            "drift.champion_version": champion or "none",
        },
    )
    params = {f"batch.{key}": getattr(info, key) for key in ("rows", "train_rows", "recent_rows", "format")}
    tracker.log_params(run_id, params | {f"drift.threshold.{k}": v for k, v in asdict(thresholds).items()})
    tracker.log_metrics(run_id, report.metrics)
    files = {part: f"{part}.parquet" for part in ("train", RECENT)}
    datasets = [
        (f"fmnist-batch-{info.id}", info.files[file][:16], batches_root / info.id / file, part)
        for part, file in files.items()
    ]
    tracker.log_datasets(run_id, datasets)
    tracker.log_text(run_id, report.markdown(info.id), layout.DRIFT_MD)
    tracker.end_run(run_id)
    return BatchCheck(info, report, run_id, data_version)
