"""Initial weights drawn once in numpy, so both frameworks can start from the same point."""

from __future__ import annotations

import itertools

import numpy as np

from fmnist.config import ModelConfig


def layer_sizes(model_cfg: ModelConfig) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every dense layer, input to output."""
    return list(itertools.pairwise([model_cfg.n_inputs, *model_cfg.hidden, model_cfg.n_classes]))


def initial_weights(model_cfg: ModelConfig, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel (fan_in, fan_out), bias) of every dense layer: He-normal kernels (std sqrt(2/fan_in), cut at 2 std
    like Keras's) and zero biases. BatchNorm needs nothing: gamma=1, beta=0, mean=0, var=1 in both already."""
    rng = np.random.default_rng(seed)
    out = []
    for fan_in, fan_out in layer_sizes(model_cfg):
        kernel = rng.standard_normal((fan_in, fan_out))
        # Redraw anything beyond 2 std, as a truncated normal does.
        while (bad := np.abs(kernel) > 2.0).any():
            kernel[bad] = rng.standard_normal(int(bad.sum()))
        # 0.8796 is the std of a standard normal truncated at ±2; divide so the result has std sqrt(2/fan_in).
        kernel = (kernel * (np.sqrt(2.0 / fan_in) / 0.87962566103423978)).astype(np.float32)
        out.append((kernel, np.zeros(fan_out, np.float32)))
    return out


def count_trainable_params(model_cfg: ModelConfig) -> int:
    """Dense kernels + biases, plus BatchNorm gamma and beta of every hidden layer."""
    return sum(i * o + o for i, o in layer_sizes(model_cfg)) + 2 * sum(model_cfg.hidden)
