"""Keras dropout masks: reseeded per epoch, each layer from its own stream."""

from __future__ import annotations

import keras
import numpy as np

from fmnist.config import ModelConfig
from fmnist.models.keras_net import build_model
from fmnist.train.keras_backend import reseed_dropout


def masks(seed: int, steps: int) -> list[list[bytes]]:
    """Each dropout layer's masks for ``steps`` training calls on the same input, after reseeding."""
    model = build_model(ModelConfig(hidden=(32, 32, 32), dropout=0.5), seed=0)
    reseed_dropout(model, seed)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    x = np.ones((16, 32), np.float32)
    return [[(np.asarray(layer(x, training=True)) != 0).tobytes() for _ in range(steps)] for layer in dropouts]


def test_no_dropout_layer_repeats_a_mask_of_another() -> None:
    # Streams that are one sequence at different offsets would share masks a few steps apart.
    drawn = [mask for layer in masks(seed=7, steps=6) for mask in layer]
    assert len(set(drawn)) == len(drawn) == 18


def test_reseeding_replays_the_masks_and_another_seed_does_not() -> None:
    assert masks(seed=7, steps=2) == masks(seed=7, steps=2)
    assert masks(seed=7, steps=2) != masks(seed=8, steps=2)
