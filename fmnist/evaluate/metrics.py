"""Score one model's predictions on one split: accuracy, loss, per-class precision/recall/F1, confusion matrix. Pure
NumPy on labels and softmax probabilities, so Keras and PyTorch are scored alike, under the same metric names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from fmnist.classes import CLASS_NAMES, NUM_CLASSES
from fmnist.errors import DataError, FmnistError

# Keras clips probabilities to [1e-7, 1 - 1e-7] in its cross-entropy; doing the same means a Keras model's
# `evaluate` loss and ours agree, and one confidently wrong image costs -log(1e-7) ≈ 16 instead of infinity.
PROB_EPSILON = 1e-7
# A softmax row sums to 1 up to float32 rounding (~1e-6); logits would miss this by far.
_ROW_SUM_TOLERANCE = 1e-3
# What MLflow accepts in a metric name, minus ':' (older servers reject it).
_METRIC_KEY = re.compile(r"^[A-Za-z0-9_\-. /]+$")


def metric_name(text: str) -> str:
    """``text`` as one path component of a metric key: anything but letters, digits, ``_ - .`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-.]", "_", text)


def check_metric_key(key: str) -> str:
    """Return ``key`` if MLflow accepts it as a metric name, else raise FmnistError."""
    if not _METRIC_KEY.match(key) or key.startswith("/") or ".." in key:
        raise FmnistError(f"{key!r} is not a valid metric name (use letters, digits, '_ - . /' and spaces)")
    return key


@dataclass(frozen=True)
class SplitMetrics:
    """One model on one split; per-class tuples in label order. ``confusion[i, j]`` counts images of true class
    ``i`` predicted as ``j``; the arrays are read-only and left out of ``==``."""

    n: int
    accuracy: float
    loss: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]
    confusion: np.ndarray = field(compare=False, repr=False)
    predictions: np.ndarray = field(compare=False, repr=False)

    @property
    def macro_precision(self) -> float:
        return float(np.mean(self.precision))

    @property
    def macro_recall(self) -> float:
        return float(np.mean(self.recall))

    @property
    def macro_f1(self) -> float:
        return float(np.mean(self.f1))

    def as_flat(self, prefix: str) -> dict[str, float]:
        """Metrics under ``<prefix>/<name>``, e.g. ``official_test/acc``, ``official_test/f1/T-shirt_top``."""
        check_metric_key(prefix)
        flat = {
            f"{prefix}/acc": self.accuracy,
            f"{prefix}/loss": self.loss,
            f"{prefix}/macro_precision": self.macro_precision,
            f"{prefix}/macro_recall": self.macro_recall,
            f"{prefix}/macro_f1": self.macro_f1,
        }
        for i, name in enumerate(CLASS_NAMES):
            key = metric_name(name)
            flat[f"{prefix}/precision/{key}"] = self.precision[i]
            flat[f"{prefix}/recall/{key}"] = self.recall[i]
            flat[f"{prefix}/f1/{key}"] = self.f1[i]
        return flat


def _check_inputs(labels: np.ndarray, probabilities: np.ndarray) -> None:
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if probabilities.shape != (len(labels), NUM_CLASSES):
        raise DataError(f"probabilities must have shape ({len(labels)}, {NUM_CLASSES}), got {probabilities.shape}")
    if len(labels) == 0:
        raise DataError("cannot evaluate on an empty split")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise DataError(f"labels must be in 0..{NUM_CLASSES - 1}, got {labels.min()}..{labels.max()}")
    if not np.all(np.isfinite(probabilities)):
        raise DataError("probabilities contain NaN or infinity (did training diverge?)")
    row_sums = probabilities.sum(axis=1)
    if probabilities.min() < 0 or np.abs(row_sums - 1.0).max() > _ROW_SUM_TOLERANCE:
        raise DataError("probabilities must be softmax outputs (non-negative, rows sum to 1); were logits passed?")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` element-wise, 0 where the denominator is 0."""
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def evaluate_predictions(labels: np.ndarray, probabilities: np.ndarray) -> SplitMetrics:
    """Score softmax ``probabilities`` (N, 10) against integer ``labels`` (N,): the prediction is the argmax (the
    first class on a tie), the loss the mean cross-entropy with probabilities clipped to `PROB_EPSILON`; a class
    never predicted has precision 0 (scikit-learn's definitions with zero_division=0)."""
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    _check_inputs(labels, probabilities)
    predictions = probabilities.argmax(axis=1)
    p_true = np.clip(probabilities[np.arange(len(labels)), labels], PROB_EPSILON, 1.0 - PROB_EPSILON)
    # Counted with NumPy: scikit-learn would be a heavy import in every flow and Dask worker.
    confusion = np.bincount(labels * NUM_CLASSES + predictions, minlength=NUM_CLASSES**2).reshape(
        NUM_CLASSES, NUM_CLASSES
    )
    true_pos = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _ratio(true_pos, predicted)
    recall = _ratio(true_pos, support)
    f1 = _ratio(2 * true_pos, support + predicted)
    confusion.setflags(write=False)
    predictions.setflags(write=False)
    return SplitMetrics(
        n=len(labels),
        accuracy=float(np.mean(predictions == labels)),
        loss=float(np.mean(-np.log(p_true))),
        precision=tuple(float(v) for v in precision),
        recall=tuple(float(v) for v in recall),
        f1=tuple(float(v) for v in f1),
        support=tuple(int(v) for v in support),
        confusion=confusion,
        predictions=predictions,
    )
