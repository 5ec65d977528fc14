"""The network in Keras 3 (architecture only; the PyTorch mirror is `torch_net`)."""

from __future__ import annotations

import keras

from fmnist.config import ModelConfig
from fmnist.models.numpy_net import initial_weights

# Keras's own BatchNormalization defaults, in Keras's convention (momentum = weight of the old value).
KERAS_BN_MOMENTUM = 0.99
KERAS_BN_EPSILON = 1e-3


def bn_settings(model_cfg: ModelConfig) -> tuple[float, float]:
    """(momentum, epsilon) as passed to keras.layers.BatchNormalization."""
    # The config uses PyTorch's convention (weight of the new batch), Keras the complement.
    momentum = KERAS_BN_MOMENTUM if model_cfg.bn_momentum is None else 1.0 - model_cfg.bn_momentum
    epsilon = KERAS_BN_EPSILON if model_cfg.bn_epsilon is None else model_cfg.bn_epsilon
    return momentum, epsilon


def build_model(model_cfg: ModelConfig, seed: int) -> keras.Sequential:
    """784 → hidden… → 10, each hidden block Dense+ReLU, BatchNormalization, Dropout; every random layer gets its
    own seed derived from ``seed``, so no global state is touched."""
    momentum, epsilon = bn_settings(model_cfg)
    layers: list[keras.layers.Layer] = [keras.Input((model_cfg.n_inputs,))]
    for i, width in enumerate(model_cfg.hidden):
        layers += [
            keras.layers.Dense(width, activation="relu", kernel_initializer=keras.initializers.HeNormal(seed=seed + i)),
            keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon),
            keras.layers.Dropout(model_cfg.dropout, seed=seed + 1000 + i),
        ]
    layers.append(
        keras.layers.Dense(
            model_cfg.n_classes,
            activation="softmax" if model_cfg.output == "softmax" else None,
            kernel_initializer=keras.initializers.HeNormal(seed=seed + len(model_cfg.hidden)),
        )
    )
    model = keras.Sequential(layers, name="fmnist_mlp")
    if model_cfg.init == "shared":
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        for layer, (kernel, bias) in zip(dense, initial_weights(model_cfg, seed), strict=True):
            layer.set_weights([kernel, bias])
    return model
