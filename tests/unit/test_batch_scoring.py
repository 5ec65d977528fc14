"""Batch scoring without servers: the summary math on probabilities worked out by hand, and the files it writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fmnist.classes import CLASS_NAMES
from fmnist.errors import DataError, FmnistError
from fmnist.serve.batch_scoring import (
    PREDICTIONS_CSV,
    PREDICTIONS_PARQUET,
    SUMMARY_JSON,
    check_arguments,
    score_metrics,
    summarize,
    write_scores,
)
from fmnist.serve.prediction import Predictions
from tests.factories import snapshot


def _rows(*peaks: tuple[int, float]) -> np.ndarray:
    """One probability row per (class, its probability), the rest spread evenly over the other nine classes."""
    rows = []
    for cls, p in peaks:
        row = np.full(10, (1 - p) / 9)
        row[cls] = p
        rows.append(row)
    return np.array(rows, dtype=np.float32)


def test_summary_of_four_images_worked_out_by_hand() -> None:
    probabilities = _rows((0, 0.9), (0, 0.4), (9, 0.5), (3, 0.7))
    summary = summarize(probabilities, threshold=0.5)
    assert summary.images == 4
    assert summary.class_counts == {**dict.fromkeys(CLASS_NAMES, 0), "T-shirt/top": 2, "Ankle boot": 1, "Dress": 1}
    assert summary.mean_confidence == pytest.approx((0.9 + 0.4 + 0.5 + 0.7) / 4)
    # Below means strictly below: the image at exactly 0.5 is not low-confidence.
    assert summary.low_confidence_share == pytest.approx(1 / 4)
    assert summary.threshold == 0.5


@pytest.mark.parametrize(("threshold", "share"), [(0.0, 0.0), (0.45, 0.25), (0.75, 0.75), (0.95, 1.0), (1.0, 1.0)])
def test_low_confidence_share_follows_the_threshold(threshold: float, share: float) -> None:
    probabilities = _rows((0, 0.9), (1, 0.4), (2, 0.5), (3, 0.7))
    assert summarize(probabilities, threshold).low_confidence_share == pytest.approx(share)


def test_metrics_name_every_class_even_when_none_was_predicted() -> None:
    metrics = score_metrics(summarize(_rows((7, 0.8), (7, 0.6)), threshold=0.7))
    assert metrics["score/images"] == 2.0
    assert metrics["score/mean_confidence"] == pytest.approx(0.7)
    assert metrics["score/low_confidence_share"] == pytest.approx(0.5)
    counts = {k.removeprefix("score/class_count/"): v for k, v in metrics.items() if k.startswith("score/class_count/")}
    assert counts == {**dict.fromkeys(CLASS_NAMES, 0.0), "Sneaker": 2.0}


def test_no_images_is_one_clear_error_not_nan() -> None:
    with pytest.raises(DataError, match="no images to score") as caught:
        summarize(np.zeros((0, 10), np.float32))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_a_threshold_that_is_no_probability_is_refused(threshold: float) -> None:
    with pytest.raises(FmnistError, match="between 0 and 1"):
        summarize(_rows((0, 0.9)), threshold)


def test_probabilities_of_the_wrong_shape_are_a_bug() -> None:
    with pytest.raises(ValueError, match=r"\(N, 10\)"):
        summarize(np.full((3, 9), 1 / 9))


def test_write_scores_writes_parquet_csv_and_summary_with_the_same_rows(tmp_path: Path) -> None:
    probabilities = _rows((4, 0.6), (8, 0.3), (1, 0.99))
    predictions = Predictions(["a.png", "b.png", "c.csv#0"], probabilities)
    summary = summarize(probabilities, 0.5)
    files = write_scores(predictions, summary, tmp_path / "new" / "scores")

    out = tmp_path / "new" / "scores"
    assert files == [out / PREDICTIONS_PARQUET, out / PREDICTIONS_CSV, out / SUMMARY_JSON]
    assert sorted(p.name for p in out.iterdir()) == sorted([PREDICTIONS_PARQUET, PREDICTIONS_CSV, SUMMARY_JSON])
    table = pq.read_table(out / PREDICTIONS_PARQUET).to_pydict()
    with open(out / PREDICTIONS_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = ["source", "class_id", "class_name", "confidence", *(f"p_{i}" for i in range(10))]
    assert list(table) == columns and list(rows[0]) == columns
    assert table["source"] == [r["source"] for r in rows] == ["a.png", "b.png", "c.csv#0"]
    assert table["class_id"] == [int(r["class_id"]) for r in rows] == [4, 8, 1]
    assert table["class_name"] == [r["class_name"] for r in rows] == ["Coat", "Bag", "Trouser"]
    assert table["confidence"] == pytest.approx([float(r["confidence"]) for r in rows], abs=1e-6)
    assert table["confidence"] == pytest.approx([0.6, 0.3, 0.99], abs=1e-6)
    for i, row in enumerate(rows):
        assert sum(float(row[f"p_{k}"]) for k in range(10)) == pytest.approx(1.0, abs=1e-5)
        assert [table[f"p_{k}"][i] for k in range(10)] == pytest.approx(probabilities[i].tolist(), abs=1e-7)
    assert json.loads((out / SUMMARY_JSON).read_text())["low_confidence_share"] == pytest.approx(1 / 3)


def test_a_missing_source_or_a_file_as_output_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("keep me")
    (tmp_path / "images").mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(DataError, match="no such file or folder") as caught:
        check_arguments(tmp_path / "missing", None, 0.5)
    assert "\n" not in str(caught.value) and str(tmp_path / "missing") in str(caught.value)
    with pytest.raises(FmnistError, match="is a file, not a folder"):
        check_arguments(tmp_path / "images", tmp_path / "taken", 0.5)
    with pytest.raises(FmnistError, match="between 0 and 1"):
        check_arguments(tmp_path / "images", None, 2.0)
    assert snapshot(tmp_path) == before
