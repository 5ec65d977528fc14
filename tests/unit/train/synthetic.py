"""Tiny learnable stand-in for Fashion-MNIST: class prototypes plus noise, as uint8 pixels."""

from __future__ import annotations

import numpy as np

from fmnist.train.loop import TrainData


def make_data(n_train: int = 512, n_val: int = 128, seed: int = 0, noise: float = 60.0) -> TrainData:
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, (10, 784))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        x = np.clip(prototypes[y] + rng.normal(0, noise, (n, 784)), 0, 255).astype(np.uint8)
        return x, y.astype(np.uint8)

    x_train, y_train = draw(n_train)
    x_val, y_val = draw(n_val)
    return TrainData(x_train, y_train, x_val, y_val)
