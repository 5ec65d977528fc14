"""Seeded, stratified split of the training images into train / val / test (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fmnist.errors import DataError


@dataclass(frozen=True)
class SplitSizes:
    """How many images go to ``val`` and ``test``; ``train`` takes the rest (58,200 of 60,000 by default)."""

    val: int = 900
    test: int = 900


def allocate(total: int, class_counts: np.ndarray) -> np.ndarray:
    """Split ``total`` across classes in proportion to ``class_counts`` (largest remainder, ties to lower ids)."""
    exact = total * class_counts / class_counts.sum()
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    # A stable sort, so equal remainders go to the lower class id.
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


def stratified_split(labels: np.ndarray, sizes: SplitSizes, seed: int) -> dict[str, np.ndarray]:
    """Sorted source indices for ``train``, ``val`` and ``test``: disjoint, covering every image, each keeping the
    class balance of the source (classes contribute in proportion to their share), the same for the same seed."""
    labels = np.asarray(labels)
    n = labels.shape[0]
    if sizes.val < 0 or sizes.test < 0 or sizes.val + sizes.test >= n:
        raise DataError(
            f"split sizes val={sizes.val}, test={sizes.test} do not fit {n} images (train would get"
            f" {n - sizes.val - sizes.test}); choose smaller val/test sizes"
        )
    classes, class_counts = np.unique(labels, return_counts=True)
    val_counts = allocate(sizes.val, class_counts)
    test_counts = allocate(sizes.test, class_counts)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for cls, n_val, n_test in zip(classes, val_counts, test_counts, strict=True):
        members = rng.permutation(np.flatnonzero(labels == cls))
        parts["val"].append(members[:n_val])
        parts["test"].append(members[n_val : n_val + n_test])
        parts["train"].append(members[n_val + n_test :])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}
