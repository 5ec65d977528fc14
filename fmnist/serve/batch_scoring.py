"""Score a batch of images with a registered model: one row per image in Parquet and CSV, a summary in MLflow.

The files and the run: docs/usage.md, 'Batch scoring'. The summary is a pure function of the probabilities.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fmnist.atomic import staged_files
from fmnist.classes import CLASS_NAMES, NUM_CLASSES
from fmnist.errors import DataError, FmnistError
from fmnist.redaction import redact
from fmnist.serve.prediction import DEFAULT_MODEL, Predictions, load_model, predict, read_inputs

DEFAULT_THRESHOLD = 0.5
DEFAULT_SCORES_DIR = Path("data/scores")
PREDICTIONS_PARQUET = "predictions.parquet"
PREDICTIONS_CSV = "predictions.csv"
SUMMARY_JSON = "summary.json"


@dataclass(frozen=True)
class ScoreSummary:
    """What a batch of predictions looks like: how many images, how many per class, how sure the model was."""

    images: int
    class_counts: dict[str, int]
    mean_confidence: float
    low_confidence_share: float
    threshold: float


@dataclass(frozen=True)
class BatchScore:
    """One scoring: its summary, the folder holding its files, the model version scored with, its MLflow run."""

    summary: ScoreSummary
    source: str
    model_uri: str
    model_version: str | None
    out_dir: str
    run_id: str
    tracking_uri: str
    files: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise FmnistError(f"confidence threshold {threshold}: give a probability between 0 and 1, e.g. 0.5")


def summarize(probabilities: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> ScoreSummary:
    """The summary of ``probabilities`` (N, 10), an image's confidence being its largest probability."""
    check_threshold(threshold)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != NUM_CLASSES:
        raise ValueError(f"expected probabilities of shape (N, {NUM_CLASSES}), got {probabilities.shape}")
    if len(probabilities) == 0:
        # A mean over no images is no number: say so instead of logging NaN.
        raise DataError("no images to score: give at least one image, or a file with at least one row")
    confidence = probabilities.max(axis=1)
    counts = np.bincount(probabilities.argmax(axis=1), minlength=NUM_CLASSES)
    return ScoreSummary(
        images=len(probabilities),
        class_counts={name: int(n) for name, n in zip(CLASS_NAMES, counts, strict=True)},
        mean_confidence=float(confidence.mean()),
        low_confidence_share=float((confidence < threshold).mean()),
        threshold=float(threshold),
    )


def score_metrics(summary: ScoreSummary) -> dict[str, float]:
    """The summary as ``score/...`` MLflow metrics, every class counted (zero too, so runs compare key by key)."""
    metrics = {
        "score/images": float(summary.images),
        "score/mean_confidence": summary.mean_confidence,
        "score/low_confidence_share": summary.low_confidence_share,
    }
    metrics.update({f"score/class_count/{name}": float(n) for name, n in summary.class_counts.items()})
    return metrics


def check_arguments(source: Path, out_dir: Path | None, threshold: float) -> None:
    """One-line errors, before any work, for a missing source, an output folder that is a file, a bad threshold."""
    if not Path(source).exists():
        raise DataError(
            f"{source}: no such file or folder; give a PNG/JPEG image, a folder of them, an IDX, CSV or Parquet file"
        )
    check_threshold(threshold)
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise FmnistError(
            f"{out_dir}: is a file, not a folder; name a folder for {PREDICTIONS_PARQUET} and {PREDICTIONS_CSV}"
            " (it is created if missing)"
        )


def write_scores(predictions: Predictions, summary: ScoreSummary, out_dir: Path) -> list[Path]:
    """Write the three files into ``out_dir`` (checked by :func:`check_arguments`) all together (a failure leaves it
    as it was); return their paths."""
    names = (PREDICTIONS_PARQUET, PREDICTIONS_CSV, SUMMARY_JSON)
    with staged_files(out_dir) as staging:
        table = pa.table(predictions.columns(with_confidence=True))
        pq.write_table(table, staging / PREDICTIONS_PARQUET, compression="zstd")
        (staging / PREDICTIONS_CSV).write_text(predictions.to_csv(with_confidence=True))
        (staging / SUMMARY_JSON).write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return [Path(out_dir) / name for name in names]


def score_batch(
    source: Path,
    out_dir: Path | None = None,
    *,
    model_uri: str = DEFAULT_MODEL,
    threshold: float = DEFAULT_THRESHOLD,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> BatchScore:
    """Score every image of ``source`` with the model at ``model_uri``; write the predictions into ``out_dir``
    (default ``data/scores/<MLflow run id>``) and log a new MLflow run in ``experiment``, tagged with ``tags``."""
    from fmnist.tracking import Tracker, layout
    from fmnist.tracking.client import parse_model_uri

    # Bad input is reported before MLflow is touched or any file written.
    check_arguments(source, out_dir, threshold)
    ref = parse_model_uri(model_uri)
    batch = read_inputs([Path(source)])
    if len(batch.pixels) == 0:
        raise DataError(f"{source}: holds no images to score; give a folder of images or a file with rows")

    tracker = Tracker(tracking_uri, experiment)
    version = ref.ref if ref.kind == "version" else None
    if ref.kind == "alias":
        # An alias can move while this runs: score with the version it names now, the one logged with the run.
        version = tracker.alias_version(ref.name, ref.ref)
    predictions = predict(load_model(f"models:/{ref.name}/{version}" if version else model_uri, tracker), batch)
    summary = summarize(predictions.probabilities, threshold)

    run_name = f"score-{Path(source).name}"
    run_id = tracker.start_parent(run_name, {layout.RUN_KIND_TAG: layout.SCORE_BATCH_KIND, **dict(tags or {})})
    try:
        out = Path(out_dir if out_dir is not None else DEFAULT_SCORES_DIR / run_id).absolute()
        files = write_scores(predictions, summary, out)
        tracker.log_params(run_id, {
            "model_uri": model_uri, "model_version": version or "", "source": Path(source).absolute(),
            "threshold": threshold, "out_dir": out,
        })  # fmt: skip
        tracker.log_metrics(run_id, score_metrics(summary))
        tracker.log_artifact(run_id, out / SUMMARY_JSON, layout.SCORES_DIR)
        tracker.log_artifact(run_id, out / PREDICTIONS_CSV, layout.SCORES_DIR)
    except BaseException as exc:
        tracker.end_run(run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    tracker.end_run(run_id)
    return BatchScore(
        summary=summary,
        source=str(Path(source).absolute()),
        model_uri=model_uri,
        model_version=version,
        out_dir=str(out),
        run_id=run_id,
        tracking_uri=redact(tracker.uri),
        files=[str(f) for f in files],
    )
