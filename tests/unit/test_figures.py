from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fmnist.errors import FmnistError
from fmnist.evaluate.figures import (
    confusion_matrix_png,
    disagreement_gallery_png,
    forest_png,
    learning_curves_png,
    per_class_f1_png,
)


def _open(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image


def _not_blank(image: Image.Image) -> bool:
    arr = np.asarray(image.convert("L"))
    return int(arr.min()) < 200 and int(arr.max()) > 200  # dark marks on a light page


CM = np.diag(np.full(10, 900)) + np.eye(10, k=1, dtype=int) * 7


def test_confusion_matrix_png() -> None:
    image = _open(confusion_matrix_png(CM, "Keras, official test"))
    assert 400 < image.width < 1200 and 400 < image.height < 1200
    assert _not_blank(image)


def test_confusion_matrix_png_is_deterministic() -> None:
    assert confusion_matrix_png(CM, "t") == confusion_matrix_png(CM, "t")
    assert confusion_matrix_png(CM, "t") != confusion_matrix_png(CM * 2, "t")


def test_confusion_matrix_must_be_10x10() -> None:
    with pytest.raises(FmnistError, match="10x10"):
        confusion_matrix_png(np.zeros((3, 3)), "t")


def test_per_class_f1_png() -> None:
    image = _open(per_class_f1_png({"Keras": [0.9] * 10, "PyTorch": np.linspace(0.5, 0.95, 10)}))
    assert image.width > image.height > 200
    assert _not_blank(image)
    with pytest.raises(FmnistError, match="10 F1"):
        per_class_f1_png({"Keras": [0.9] * 9})
    with pytest.raises(FmnistError):
        per_class_f1_png({})


def _history(offset: float) -> dict[str, list[tuple[int, float]]]:
    epochs = range(1, 6)
    return {
        "train/loss": [(e, 1.0 / e + offset) for e in epochs],
        "val/loss": [(e, 1.1 / e + offset) for e in epochs],
        "train/acc": [(e, 0.8 + 0.02 * e - offset) for e in epochs],
        "val/acc": [(e, 0.79 + 0.02 * e - offset) for e in epochs],
    }


def test_learning_curves_png() -> None:
    image = _open(learning_curves_png({"Keras": _history(0.0), "PyTorch": _history(0.05)}))
    assert image.width > image.height > 200
    assert _not_blank(image)


def test_learning_curves_tolerate_missing_metrics_and_unsorted_epochs() -> None:
    png = learning_curves_png({"Keras": {"val/loss": [(2, 0.4), (1, 0.5)]}, "PyTorch": {}})
    _open(png)


def _gallery_inputs(n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n)
    preds_a = labels.copy()
    preds_b = (labels + 1) % 10
    return images, labels, preds_a, preds_b


def test_disagreement_gallery_png() -> None:
    images, labels, a, b = _gallery_inputs(12)
    image = _open(disagreement_gallery_png(images, labels, a, b, "Keras", "PyTorch"))
    assert _not_blank(image)
    # The same images shaped (N, 28, 28) give the same figure.
    assert disagreement_gallery_png(images.reshape(-1, 28, 28), labels, a, b, "Keras", "PyTorch") == (
        disagreement_gallery_png(images, labels, a, b, "Keras", "PyTorch")
    )


def test_gallery_grows_with_rows_but_caps_at_max_images() -> None:
    images, labels, a, b = _gallery_inputs(30)
    one_row = _open(disagreement_gallery_png(images[:8], labels[:8], a[:8], b[:8], "K", "P"))
    capped = _open(disagreement_gallery_png(images, labels, a, b, "K", "P", max_images=16))
    two_rows = _open(disagreement_gallery_png(images[:16], labels[:16], a[:16], b[:16], "K", "P"))
    assert capped.height > one_row.height
    assert capped.size == two_rows.size


def test_gallery_skips_agreements_and_says_when_there_are_none() -> None:
    images, labels, a, _ = _gallery_inputs(5)
    none_at_all = _open(disagreement_gallery_png(images[:0], labels[:0], a[:0], a[:0], "K", "P"))
    all_agree = _open(disagreement_gallery_png(images, labels, a, a.copy(), "K", "P"))
    assert none_at_all.size == all_agree.size
    assert none_at_all.height < 300
    assert _not_blank(none_at_all)


def test_gallery_validates_shapes() -> None:
    images, labels, a, b = _gallery_inputs(4)
    with pytest.raises(FmnistError, match="784"):
        disagreement_gallery_png(images[:, :100], labels, a, b, "K", "P")
    with pytest.raises(FmnistError, match="same length"):
        disagreement_gallery_png(images, labels[:3], a, b, "K", "P")


def test_whole_test_set_and_prefiltered_disagreements_give_the_same_gallery() -> None:
    images, labels, a, b = _gallery_inputs(6)
    b[1::2] = a[1::2]  # odd rows agree
    keep = a != b
    whole = disagreement_gallery_png(images, labels, a, b, "K", "P")
    prefiltered = disagreement_gallery_png(images[keep], labels[keep], a[keep], b[keep], "K", "P")
    assert whole == prefiltered


def test_forest_png_grows_with_its_rows_and_needs_one() -> None:
    rows = [("bn_momentum: keras_to_torch", 0.4, -0.1, 0.9), ("framework: own_defaults", -1.2, -2.0, -0.4)]
    two, eight = _open(forest_png(rows, 0.5)), _open(forest_png(rows * 4, 0.5))
    assert _not_blank(two) and eight.height > two.height and eight.width == two.width
    assert forest_png(rows, 0.5) == forest_png(rows, 0.5)
    with pytest.raises(FmnistError, match="at least one effect"):
        forest_png([], 0.5)
