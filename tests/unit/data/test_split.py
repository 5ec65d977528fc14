from __future__ import annotations

import numpy as np
import pytest

from fmnist.data.split import SplitSizes, allocate, stratified_split
from fmnist.errors import DataError


def test_allocate_is_exact_and_proportional() -> None:
    counts = allocate(900, np.full(10, 6000))
    assert counts.tolist() == [90] * 10
    uneven = allocate(10, np.array([5, 3, 2]))
    assert uneven.tolist() == [5, 3, 2]
    # 7 over three equal classes: remainders tie, the lower class ids get the extra items.
    assert allocate(7, np.array([10, 10, 10])).tolist() == [3, 2, 2]
    assert allocate(7, np.array([1, 100, 1])).sum() == 7


def test_reference_sizes_are_stratified() -> None:
    labels = np.repeat(np.arange(10), 6000)
    parts = stratified_split(labels, SplitSizes(), seed=1)
    assert {k: len(v) for k, v in parts.items()} == {"train": 58_200, "val": 900, "test": 900}
    for name, size in (("val", 90), ("test", 90), ("train", 5820)):
        assert np.bincount(labels[parts[name]]).tolist() == [size] * 10


def test_disjoint_and_covering() -> None:
    labels = np.random.default_rng(0).integers(0, 10, 1000)
    parts = stratified_split(labels, SplitSizes(val=50, test=70), seed=3)
    joined = np.concatenate(list(parts.values()))
    assert np.array_equal(np.sort(joined), np.arange(1000))


def test_same_seed_same_split_other_seed_other_split() -> None:
    labels = np.repeat(np.arange(10), 100)
    a = stratified_split(labels, SplitSizes(val=100, test=100), seed=7)
    b = stratified_split(labels, SplitSizes(val=100, test=100), seed=7)
    c = stratified_split(labels, SplitSizes(val=100, test=100), seed=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["val"], c["val"])


@pytest.mark.parametrize("sizes", [SplitSizes(val=500, test=500), SplitSizes(val=-1, test=1)])
def test_sizes_that_do_not_fit(sizes: SplitSizes) -> None:
    with pytest.raises(DataError, match=r"do not fit 1000 images"):
        stratified_split(np.zeros(1000, np.uint8), sizes, seed=0)
