from __future__ import annotations

import math
import re

import numpy as np
import pytest

from fmnist.classes import NUM_CLASSES
from fmnist.errors import DataError, FmnistError
from fmnist.evaluate.metrics import PROB_EPSILON, check_metric_key, evaluate_predictions, metric_name

# MLflow's own rule for metric names (mlflow.utils.validation, the stricter Windows variant).
MLFLOW_METRIC_NAME = re.compile(r"^[/\w.\- ]*$", re.ASCII)


def _probs(rows: list[dict[int, float]]) -> np.ndarray:
    """Probability rows from {class: p} dicts; the rest of each row's mass is spread over the other classes."""
    out = np.zeros((len(rows), NUM_CLASSES))
    for i, row in enumerate(rows):
        rest = [c for c in range(NUM_CLASSES) if c not in row]
        out[i, rest] = (1.0 - sum(row.values())) / len(rest) if rest else 0.0
        for c, p in row.items():
            out[i, c] = p
    return out


# Four images: 0 right (p=.5), 1 predicted as 0 (p_true=.25), 1 right with p=1, 2 right (p=.5).
LABELS = np.array([0, 1, 1, 2])
PROBS = _probs([{0: 0.5}, {0: 0.75, 1: 0.25}, {1: 1.0}, {2: 0.5}])


def test_accuracy_predictions_and_loss_match_hand_computation() -> None:
    m = evaluate_predictions(LABELS, PROBS)
    assert m.n == 4
    assert m.predictions.tolist() == [0, 0, 1, 2]
    assert m.accuracy == pytest.approx(0.75)
    expected_loss = -(math.log(0.5) + math.log(0.25) + math.log(1.0 - PROB_EPSILON) + math.log(0.5)) / 4
    assert m.loss == pytest.approx(expected_loss)


def test_per_class_precision_recall_f1_support() -> None:
    m = evaluate_predictions(LABELS, PROBS)
    # Class 0: predicted twice, right once; class 1: predicted once, right, but one of two missed.
    assert m.precision[:3] == pytest.approx((0.5, 1.0, 1.0))
    assert m.recall[:3] == pytest.approx((1.0, 0.5, 1.0))
    assert m.f1[:3] == pytest.approx((2 / 3, 2 / 3, 1.0))
    assert m.support == (1, 2, 1, 0, 0, 0, 0, 0, 0, 0)
    # Classes never seen nor predicted score 0 rather than raising.
    assert m.f1[3:] == (0.0,) * 7
    assert m.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_class_metrics_and_confusion_agree_with_scikit_learn(seed: int) -> None:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, size=500)  # classes 7..9 never occur: the zero-division cases
    logits = rng.normal(size=(500, NUM_CLASSES))
    logits[:, 9] -= 50  # and class 9 is never predicted
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    m = evaluate_predictions(labels, probs)
    ids = list(range(NUM_CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, probs.argmax(axis=1), labels=ids, average=None, zero_division=0
    )
    assert m.precision == pytest.approx(tuple(precision))
    assert m.recall == pytest.approx(tuple(recall))
    assert m.f1 == pytest.approx(tuple(f1))
    assert m.support == tuple(int(v) for v in support)
    assert np.array_equal(m.confusion, confusion_matrix(labels, probs.argmax(axis=1), labels=ids))


def test_confusion_matrix_rows_are_true_classes() -> None:
    cm = evaluate_predictions(LABELS, PROBS).confusion
    assert cm.shape == (10, 10)
    assert cm[1, 0] == 1 and cm[1, 1] == 1 and cm[0, 0] == 1 and cm[2, 2] == 1
    assert cm.sum() == 4
    with pytest.raises(ValueError):
        cm[0, 0] = 7  # read-only: a result cannot be edited after the fact


def test_confident_wrong_prediction_costs_a_finite_loss() -> None:
    m = evaluate_predictions(np.array([3]), _probs([{0: 1.0}]))
    assert m.loss == pytest.approx(-math.log(PROB_EPSILON))
    assert m.accuracy == 0.0


def test_logits_are_rejected() -> None:
    logits = np.zeros((2, NUM_CLASSES))
    logits[:, 0] = 5.0
    with pytest.raises(DataError, match="logits"):
        evaluate_predictions(np.array([0, 1]), logits)


@pytest.mark.parametrize(
    ("labels", "probs", "match"),
    [
        (np.array([0, 1]), np.full((3, NUM_CLASSES), 0.1), "shape"),
        (np.array([0, 10]), np.full((2, NUM_CLASSES), 0.1), "0..9"),
        (np.array([0.0, 1.0]), np.full((2, NUM_CLASSES), 0.1), "integer"),
        (np.array([], dtype=int), np.zeros((0, NUM_CLASSES)), "empty"),
        (np.array([0]), np.full((1, NUM_CLASSES), np.nan), "NaN"),
    ],
)
def test_bad_inputs_are_data_errors(labels: np.ndarray, probs: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        evaluate_predictions(labels, probs)


def test_as_flat_keys_are_sanitised_and_valid_for_mlflow() -> None:
    flat = evaluate_predictions(LABELS, PROBS).as_flat("official_test")
    assert flat["official_test/acc"] == pytest.approx(0.75)
    assert flat["official_test/f1/T-shirt_top"] == pytest.approx(2 / 3)
    assert flat["official_test/recall/Trouser"] == pytest.approx(0.5)
    assert "official_test/f1/Ankle_boot" in flat
    assert flat["official_test/macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 10)
    assert len(flat) == 5 + 3 * NUM_CLASSES
    assert [k for k in flat if not MLFLOW_METRIC_NAME.match(k) or "//" in k] == []


def test_metric_name_replaces_what_mlflow_or_paths_would_choke_on() -> None:
    assert metric_name("T-shirt/top") == "T-shirt_top"
    assert metric_name("a:b c") == "a_b_c"


@pytest.mark.parametrize("prefix", ["bad:prefix", "/abs", "a/../b", "é"])
def test_invalid_prefix_is_rejected(prefix: str) -> None:
    with pytest.raises(FmnistError):
        check_metric_key(prefix)
