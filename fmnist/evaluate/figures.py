"""The report's figures as PNG bytes: confusion matrix, per-class F1, learning curves, disagreements, forest plot.
Each is its own `matplotlib.figure.Figure` on the Agg canvas, not pyplot: no global figure registry shared by the
threads Prefect runs tasks in, no backend switched for whoever imports us."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fmnist.classes import CLASS_NAMES, NUM_CLASSES, NUM_PIXELS
from fmnist.errors import FmnistError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 80  # small on purpose: the figures are read on screen, and render fast
# Axis labels: "T-shirt/top" → "T-shirt", "Ankle boot" → "Boot".
SHORT_NAMES = tuple(name.split("/")[0].split()[-1].capitalize() for name in CLASS_NAMES)
LEARNING_METRICS: tuple[str, ...] = ("train/loss", "val/loss", "train/acc", "val/acc")
_GALLERY_COLUMNS = 8


def _new_figure(**kwargs: Any) -> Figure:
    # Imported on first use: every flow and Dask worker imports this module, few draw.
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _png(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # No "Software"/date metadata, so the same figure gives the same bytes on every run.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def confusion_matrix_png(cm: np.ndarray, title: str) -> bytes:
    """A 10x10 confusion matrix (rows: true class, columns: predicted) with the count in every cell."""
    cm = np.asarray(cm)
    if cm.shape != (NUM_CLASSES, NUM_CLASSES):
        raise FmnistError(f"confusion matrix must be {NUM_CLASSES}x{NUM_CLASSES}, got {cm.shape}")
    fig = _new_figure(figsize=(8, 7), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    threshold = cm.max() / 2.0
    for i in range(NUM_CLASSES):
        for j in range(NUM_CLASSES):
            # White on dark cells, black on light ones, so every count stays readable.
            color = "white" if cm[i, j] > threshold else "black"
            ax.text(j, i, f"{cm[i, j]:g}", ha="center", va="center", fontsize=8, color=color)
    ticks = range(NUM_CLASSES)
    ax.set_xticks(ticks, CLASS_NAMES, rotation=45, ha="right")
    ax.set_yticks(ticks, CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _png(fig)


def per_class_f1_png(f1_by_framework: Mapping[str, Sequence[float]]) -> bytes:
    """Grouped bars of per-class F1: one group per class, the frameworks side by side within it."""
    if not f1_by_framework:
        raise FmnistError("per_class_f1_png needs at least one framework")
    for name, values in f1_by_framework.items():
        if len(values) != NUM_CLASSES:
            raise FmnistError(f"{name}: expected {NUM_CLASSES} F1 values, got {len(values)}")
    fig = _new_figure(figsize=(10, 4.5), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(NUM_CLASSES)
    width = 0.8 / len(f1_by_framework)
    for k, (name, values) in enumerate(f1_by_framework.items()):
        ax.bar(x - 0.4 + width * (k + 0.5), values, width, label=name)
    ax.set_xticks(x, CLASS_NAMES, rotation=30, ha="right")
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("F1")
    ax.set_title("Per-class F1 on the official test set")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower right")
    return _png(fig)


def learning_curves_png(histories: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]]) -> bytes:
    """Loss and accuracy per epoch (``histories[framework][metric]``: ``[(epoch, value), ...]``), frameworks
    overlaid, train dashed and val solid; a missing metric is left out."""
    fig = _new_figure(figsize=(11, 4.5), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for k, (framework, metrics) in enumerate(histories.items()):
        for metric in LEARNING_METRICS:
            points = metrics.get(metric)
            if not points:
                continue
            split, kind = metric.split("/")
            epochs, values = zip(*sorted(points), strict=True)
            ax = ax_loss if kind == "loss" else ax_acc
            style = "--" if split == "train" else "-"
            ax.plot(epochs, values, style, color=f"C{k % 10}", marker=".", label=f"{framework} {split}")
    for ax, kind in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(kind)
        ax.set_title(kind)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    return _png(fig)


def _as_images(images: np.ndarray) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 2 and arr.shape[1] == NUM_PIXELS:
        return arr.reshape(-1, 28, 28)
    if arr.ndim == 3 and arr.shape[1:] == (28, 28):
        return arr
    raise FmnistError(f"images must have shape (N, 784) or (N, 28, 28), got {arr.shape}")


def disagreement_gallery_png(
    images: np.ndarray,
    labels: np.ndarray,
    preds_a: np.ndarray,
    preds_b: np.ndarray,
    name_a: str,
    name_b: str,
    max_images: int = 40,
) -> bytes:
    """The first ``max_images`` images where the predictions differ, each titled true class / A / B; with no
    disagreement the figure says so."""
    pixels = _as_images(images)
    labels, preds_a, preds_b = (np.asarray(v).reshape(-1) for v in (labels, preds_a, preds_b))
    if not len(pixels) == len(labels) == len(preds_a) == len(preds_b):
        raise FmnistError(
            f"images, labels and predictions must have the same length, got "
            f"{len(pixels)}, {len(labels)}, {len(preds_a)}, {len(preds_b)}"
        )
    differ = np.flatnonzero(preds_a != preds_b)
    shown = differ[:max_images]
    if len(shown) == 0:
        fig = _new_figure(figsize=(6, 2))
        fig.text(0.5, 0.5, f"no disagreements between {name_a} and {name_b}", ha="center", va="center", fontsize=14)
        return _png(fig)
    n_rows = -(-len(shown) // _GALLERY_COLUMNS)
    height = 1.9 * n_rows + 0.9  # inches: rows of image + 3-line title, plus the headline
    # A fixed grid: constrained layout is slow to solve for 40 titled axes.
    fig = _new_figure(figsize=(1.5 * _GALLERY_COLUMNS, height))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.1 / height, top=1.0 - 0.85 / height, hspace=0.55, wspace=0.1)
    axes = fig.subplots(n_rows, _GALLERY_COLUMNS, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, i in zip(axes, shown, strict=False):
        ax.imshow(pixels[i], cmap="gray_r", vmin=0, vmax=255)
        title = (
            f"true {SHORT_NAMES[labels[i]]}\n{name_a}: {SHORT_NAMES[preds_a[i]]}\n{name_b}: {SHORT_NAMES[preds_b[i]]}"
        )
        ax.set_title(title, fontsize=7)
    shown_text = "all shown" if len(shown) == len(differ) else f"first {len(shown)} shown"
    fig.suptitle(
        f"{name_a} and {name_b} disagree on {len(differ)} images; {shown_text}", y=1.0 - 0.1 / height, va="top"
    )
    return _png(fig)


def forest_png(rows: Sequence[tuple[str, float, float, float]], margin: float) -> bytes:
    """A forest plot: one line per effect, top to bottom, ``(label, estimate, low, high)`` in points, with a line
    at zero and the ``±margin`` band shaded."""
    if not rows:
        raise FmnistError("forest_png needs at least one effect")
    labels, estimate, low, high = (np.asarray(column) for column in zip(*rows, strict=True))
    fig = _new_figure(figsize=(8, 1.2 + 0.3 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    ax.axvspan(-margin, margin, color="0.9", label=f"±{margin:g} pt")
    ax.axvline(0.0, color="0.4", linewidth=0.8)
    ax.errorbar(estimate, y, xerr=[estimate - low, high - estimate], fmt="o", color="C0", capsize=3)
    ax.set_yticks(y, labels)
    ax.set_xlabel("effect on official-test accuracy (points) with its 95% interval")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    return _png(fig)
