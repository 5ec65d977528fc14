"""Both trainers on the real Fashion-MNIST splits (built once per session from $FMNIST_DATA_DIR)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from fmnist.config import get_preset
from fmnist.data.parquet import read_split
from fmnist.train.keras_backend import KerasBackend, configure_threads
from fmnist.train.loop import TrainData, load_train_data
from fmnist.train.torch_backend import TorchBackend

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def split_dir(real_splits: Path) -> Path:
    return real_splits


@pytest.fixture(scope="module")
def data(split_dir: Path) -> TrainData:
    configure_threads(1)
    return load_train_data(split_dir)


@pytest.fixture(scope="module")
def test_split(split_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    return read_split(split_dir / "official_test.parquet")


def _one_epoch_predictions(trainer: object, data: TrainData, x: np.ndarray, threads: int = 1) -> np.ndarray:
    preset = get_preset("parity")
    cfg = dataclasses.replace(preset.model, dropout=0.0)  # the two dropout RNGs cannot match
    train_cfg = dataclasses.replace(preset.train, max_epochs=1, threads=threads)
    return trainer.predict_proba(trainer.fit(data, cfg, train_cfg).model, x, cfg).argmax(1)


def test_parity_one_epoch_predictions_agree_on_separable_data() -> None:
    """60,000 images of 10 noisy prototypes: after one parity epoch >= 99% of predictions agree."""
    from tests.unit.train.synthetic import make_data

    configure_threads(1)
    data = make_data(n_train=60_000, n_val=10_000, noise=150.0)
    t = _one_epoch_predictions(TorchBackend, data, data.x_val)
    k = _one_epoch_predictions(KerasBackend, data, data.x_val)
    assert (t == k).mean() >= 0.99


def test_parity_disagreement_on_real_data_is_at_the_float_rounding_floor(
    data: TrainData, test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    """On real images one epoch (910 Adam steps) is chaotic: PyTorch against *itself* on 1 vs 2
    threads (only the summation order differs) agrees on ~91% of test predictions, not 99%.
    Parity cannot beat that floor; it must reach it: Keras vs PyTorch agrees about as well."""
    x, _ = test_split
    t1 = _one_epoch_predictions(TorchBackend, data, x, threads=1)
    t2 = _one_epoch_predictions(TorchBackend, data, x, threads=2)
    k = _one_epoch_predictions(KerasBackend, data, x)
    floor = (t1 == t2).mean()
    assert (t1 == k).mean() >= floor - 0.03


@pytest.mark.parametrize("trainer", [TorchBackend, KerasBackend], ids=["pytorch", "keras"])
def test_tuned_preset_reaches_target_within_budget(
    trainer: object, data: TrainData, test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    preset = get_preset("tuned")
    result = trainer.fit(data, preset.model, preset.train)
    x, y = test_split
    accuracy = (trainer.predict_proba(result.model, x, preset.model).argmax(1) == y).mean()
    # Training time is measured by benchmarks/bench_train.py, not asserted here.
    assert accuracy >= 0.895
