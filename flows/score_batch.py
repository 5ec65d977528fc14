"""The ``fmnist-score-batch`` flow: score a folder or file of images with the champion (or any model URI).

Only sequencing lives here: the one task wraps :func:`fmnist.serve.batch_scoring.score_batch`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from prefect import flow
from pydantic import Field

from fmnist.serve.batch_scoring import DEFAULT_THRESHOLD
from fmnist.serve.prediction import DEFAULT_MODEL
from tasks.score_batch import score_batch_task


@flow(name="fmnist-score-batch", log_prints=True)
def fmnist_score_batch(
    source: str,
    model_uri: str = DEFAULT_MODEL,
    out_dir: str | None = None,
    confidence_threshold: Annotated[float, Field(ge=0, le=1)] = DEFAULT_THRESHOLD,
    experiment: str | None = None,
) -> dict[str, Any]:
    """Classify every image of ``source`` and summarise the predictions in an MLflow run of its own.

    source: PNG/JPEG (28x28 grey) image or folder of them, IDX image file, Kaggle CSV or Parquet split.
    model_uri: models:/<name>@<alias>, models:/<name>/<version>, models:/m-<id> or runs:/<run id>/model.
    out_dir: folder for predictions.parquet, predictions.csv and summary.json; default data/scores/<MLflow run id>.
    confidence_threshold: images whose top probability is below this count as low-confidence.
    experiment: MLflow experiment (default fmnist-pipeline).
    """
    result = score_batch_task(
        Path(source), model_uri, Path(out_dir) if out_dir else None, confidence_threshold, experiment
    )
    return result.to_dict()
