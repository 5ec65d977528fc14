import numpy as np
import pytest

from fmnist.config import TrainConfig
from fmnist.train.loop import EarlyStopping, batch_order, epoch_seed, lr_table, steps_per_epoch


def test_shared_batch_order_is_the_same_for_both_frameworks_and_changes_per_epoch() -> None:
    cfg = TrainConfig(seed=3, batch_order="shared")
    a = batch_order(100, cfg, 1, "keras")
    np.testing.assert_array_equal(a, batch_order(100, cfg, 1, "torch"))
    assert not np.array_equal(a, batch_order(100, cfg, 2, "keras"))
    assert sorted(a.tolist()) == list(range(100))


def test_per_framework_batch_order_differs_between_frameworks() -> None:
    cfg = TrainConfig(seed=3, batch_order="per_framework")
    assert not np.array_equal(batch_order(100, cfg, 1, "keras"), batch_order(100, cfg, 1, "torch"))


def test_epoch_seed_depends_on_seed_and_epoch() -> None:
    assert epoch_seed(0, 1) == epoch_seed(0, 1)
    assert len({epoch_seed(0, 1), epoch_seed(0, 2), epoch_seed(1, 1)}) == 3
    assert 0 <= epoch_seed(7, 9) < 2**31


def test_steps_per_epoch_counts_the_partial_batch() -> None:
    assert steps_per_epoch(128, 64) == 2
    assert steps_per_epoch(129, 64) == 3


def test_constant_schedule() -> None:
    table = lr_table(TrainConfig(lr=0.01, max_epochs=3), 5)
    assert table.shape == (15,)
    assert (table == 0.01).all()


def test_onecycle_warms_up_to_peak_then_anneals_towards_zero() -> None:
    table = lr_table(TrainConfig(lr=3e-3, max_epochs=10, schedule="onecycle", warmup_fraction=0.1), 10)
    peak = int(np.argmax(table))
    assert table[peak] == pytest.approx(3e-3)
    assert peak == 10
    assert (np.diff(table[: peak + 1]) > 0).all()
    assert (np.diff(table[peak:]) <= 0).all()
    assert table[-1] < 1e-5


def test_cosine_starts_at_peak_and_decreases() -> None:
    table = lr_table(TrainConfig(lr=1e-3, max_epochs=2, schedule="cosine"), 50)
    assert table[0] == pytest.approx(1e-3)
    assert (np.diff(table) < 0).all()


def test_early_stopping_counts_epochs_without_improvement() -> None:
    stopper = EarlyStopping(patience=2)
    assert stopper.update(1, 1.0)
    assert not stopper.update(2, 1.0)  # equal is not better
    assert not stopper.should_stop
    assert not stopper.update(3, 1.5)
    assert stopper.should_stop
    assert stopper.best_epoch == 1
