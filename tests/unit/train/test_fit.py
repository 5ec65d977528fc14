"""Behaviour of both trainers through their public `fit`, on tiny generated data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from fmnist.config import ModelConfig, TrainConfig, get_preset
from fmnist.train.loop import Backend, EpochMetrics, TrainResult
from fmnist.train.trainers import FRAMEWORKS
from fmnist.train.trainers import trainer as trainer_of
from tests.unit.train.synthetic import make_data

METRIC_KEYS = {"train/loss", "train/acc", "val/loss", "val/acc", "lr", "epoch_seconds", "samples_per_second"}


@pytest.fixture(params=sorted(FRAMEWORKS))
def trainer(request: pytest.FixtureRequest) -> type[Backend]:
    return trainer_of(request.param)


def small(**overrides: object) -> TrainConfig:
    return dataclasses.replace(TrainConfig(batch_size=64, max_epochs=3, patience=10, seed=7), **overrides)


def history_array(result: TrainResult) -> np.ndarray:
    return np.array([[m.train_loss, m.train_acc, m.val_loss, m.val_acc] for m in result.history])


def test_fit_returns_result_with_canonical_metrics(trainer: type[Backend]) -> None:
    seen: list[EpochMetrics] = []
    result = trainer.fit(make_data(), ModelConfig(), small(), on_epoch_end=seen.append)
    assert result.framework == trainer.FRAMEWORK
    assert [m.epoch for m in result.history] == [1, 2, 3] == [m.epoch for m in seen]
    assert set(result.history[0].as_dict()) == METRIC_KEYS
    assert result.stopped_epoch == 3 and 1 <= result.best_epoch <= 3
    assert result.history[-1].train_acc > 0.5  # the synthetic data is learnable
    assert result.best_checkpoint is None and result.last_checkpoint is None
    for key in ("bn_momentum", "bn_epsilon", "adam_beta1", "adam_beta2", "adam_epsilon",
                "kernel_initializer", "threads_effective", "framework_version", "train.batch_size"):  # fmt: skip
        assert key in result.params
    assert result.params["n_params"] == 111_594


def test_same_seed_gives_same_metrics_and_other_seed_does_not(trainer: type[Backend]) -> None:
    data = make_data()
    a = trainer.fit(data, ModelConfig(), small(max_epochs=2))
    b = trainer.fit(data, ModelConfig(), small(max_epochs=2))
    c = trainer.fit(data, ModelConfig(), small(max_epochs=2, seed=8))
    np.testing.assert_allclose(history_array(a), history_array(b), rtol=1e-6, atol=1e-7)
    assert not np.allclose(history_array(a), history_array(c))


def test_resume_matches_uninterrupted_run(trainer: type[Backend], tmp_path: Path) -> None:
    data, cfg = make_data(), ModelConfig()  # dropout on: its RNG must be replayed too
    full = trainer.fit(data, cfg, small(), checkpoint_dir=tmp_path / "full")
    trainer.fit(data, cfg, small(max_epochs=1), checkpoint_dir=tmp_path / "resumed")
    resumed = trainer.fit(data, cfg, small(), checkpoint_dir=tmp_path / "resumed")
    assert [m.epoch for m in resumed.history] == [1, 2, 3]
    np.testing.assert_allclose(history_array(resumed), history_array(full), rtol=1e-6, atol=1e-6)
    x = data.x_val
    np.testing.assert_allclose(
        trainer.predict_proba(resumed.model, x, cfg), trainer.predict_proba(full.model, x, cfg), atol=1e-5
    )


def test_resume_after_crash_mid_schedule(trainer: type[Backend], tmp_path: Path) -> None:
    """A run killed after epoch 1 (here: by its callback) resumes onto the same cosine schedule."""
    data, cfg = make_data(), ModelConfig()
    train_cfg = small(schedule="cosine", lr=3e-3)
    full = trainer.fit(data, cfg, train_cfg)

    def crash(metrics: EpochMetrics) -> None:
        if metrics.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.fit(data, cfg, train_cfg, on_epoch_end=crash, checkpoint_dir=tmp_path)
    resumed = trainer.fit(data, cfg, train_cfg, checkpoint_dir=tmp_path)
    np.testing.assert_allclose(history_array(resumed), history_array(full), rtol=1e-6, atol=1e-6)


def test_checkpoint_files_and_best_copy(trainer: type[Backend], tmp_path: Path) -> None:
    data, cfg = make_data(), ModelConfig()
    result = trainer.fit(data, cfg, small(), checkpoint_dir=tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"state.json", result.best_checkpoint.name} <= names
    assert all(any(n.startswith(f"epoch-{k:03d}") for n in names) for k in (1, 2, 3))
    assert not any(".tmp" in n for n in names)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["epoch"] == 3 and state["best_epoch"] == result.best_epoch
    assert len(state["history"]) == 3
    # The returned model holds the best weights, and so does the `best` checkpoint.
    loaded = trainer.load_checkpoint(result.best_checkpoint, cfg)
    np.testing.assert_allclose(
        trainer.predict_proba(loaded, data.x_val, cfg),
        trainer.predict_proba(result.model, data.x_val, cfg),
        atol=1e-6,
    )


def test_early_stopping_stops_and_restores_best_weights(trainer: type[Backend]) -> None:
    # Validation labels unrelated to the inputs: once the model fits train, val loss only rises.
    data = make_data(n_train=256, noise=30.0)
    rng = np.random.default_rng(0)
    data = dataclasses.replace(data, y_val=rng.integers(0, 10, len(data.y_val)).astype(np.uint8))
    cfg = ModelConfig(dropout=0.0)
    result = trainer.fit(data, cfg, small(max_epochs=30, patience=2, lr=1e-2))
    assert result.stopped_epoch < 30
    assert result.stopped_epoch == result.best_epoch + 2
    best = result.history[result.best_epoch - 1]
    proba = trainer.predict_proba(result.model, data.x_val, cfg)
    val_loss = -np.mean(np.log(proba[np.arange(len(proba)), data.y_val]))
    assert val_loss == pytest.approx(best.val_loss, rel=1e-4)


def test_predict_proba_rows_are_distributions(trainer: type[Backend]) -> None:
    from fmnist.models import keras_net, torch_net

    build_model = {"keras": keras_net.build_model, "torch": torch_net.build_model}[trainer.FRAMEWORK]
    for cfg in (ModelConfig(output="softmax"), ModelConfig(output="logits", preprocessing="standardize")):
        model = build_model(cfg, seed=0)
        proba = trainer.predict_proba(model, make_data().x_val[:5], cfg)
        assert proba.shape == (5, 10)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(("n_train", "epochs"), [(64, 20), (640, 2)])
def test_parity_frameworks_train_alike_without_dropout(n_train: int, epochs: int) -> None:
    """The parity preset removes every framework difference: with dropout off, the training loss
    trajectories agree. (64, 20): each epoch is one full batch, so the history holds the first 20
    step losses; (640, 2): 20 steps in 10-batch epochs, which also checks the shared batch order."""
    preset = get_preset("parity")
    cfg = dataclasses.replace(preset.model, dropout=0.0)
    train_cfg = dataclasses.replace(preset.train, max_epochs=epochs, patience=epochs)
    data = make_data(n_train=n_train)
    t_loss = np.array([m.train_loss for m in trainer_of("torch").fit(data, cfg, train_cfg).history])
    k_loss = np.array([m.train_loss for m in trainer_of("keras").fit(data, cfg, train_cfg).history])
    assert np.max(np.abs(t_loss - k_loss) / t_loss) < 1e-4


def test_parity_frameworks_predict_alike_after_training() -> None:
    """Inference normalises with BatchNorm's moving averages, which training updates: after 12 steps from the
    same weights, eval-mode outputs agree only if both frameworks average the same (biased) batch variance.
    Batch 16 makes PyTorch's default unbiased estimate 16/15 of Keras's, far outside the tolerance."""
    preset = get_preset("parity")
    cfg = dataclasses.replace(preset.model, dropout=0.0)
    train_cfg = dataclasses.replace(preset.train, batch_size=16, max_epochs=3, patience=3, restore_best_weights=False)
    data = make_data(n_train=64)
    t, k = trainer_of("torch"), trainer_of("keras")
    t_proba = t.predict_proba(t.fit(data, cfg, train_cfg).model, data.x_val, cfg)
    k_proba = k.predict_proba(k.fit(data, cfg, train_cfg).model, data.x_val, cfg)
    np.testing.assert_allclose(t_proba, k_proba, atol=1e-4)


def test_seed_preset_is_not_at_parity() -> None:
    """Control for the test above: with the frameworks' own defaults the trajectories differ."""
    preset = get_preset("seed")
    cfg = dataclasses.replace(preset.model, dropout=0.0)
    train_cfg = dataclasses.replace(preset.train, max_epochs=3, patience=3)
    data = make_data(n_train=64)
    t_loss = np.array([m.train_loss for m in trainer_of("torch").fit(data, cfg, train_cfg).history])
    k_loss = np.array([m.train_loss for m in trainer_of("keras").fit(data, cfg, train_cfg).history])
    assert np.max(np.abs(t_loss - k_loss) / t_loss) > 1e-2


def test_without_restore_the_last_weights_are_returned_and_marked_best(trainer: type[Backend], tmp_path: Path) -> None:
    data, cfg = make_data(), ModelConfig()
    result = trainer.fit(data, cfg, small(restore_best_weights=False), checkpoint_dir=tmp_path)
    last = trainer.load_checkpoint(result.last_checkpoint, cfg)
    shipped = trainer.load_checkpoint(result.best_checkpoint, cfg)
    expected = trainer.predict_proba(last, data.x_val, cfg)
    np.testing.assert_allclose(trainer.predict_proba(result.model, data.x_val, cfg), expected, atol=1e-6)
    np.testing.assert_allclose(trainer.predict_proba(shipped, data.x_val, cfg), expected, atol=1e-6)
