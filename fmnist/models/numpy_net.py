"""The network in NumPy: what both frameworks share (input preprocessing, initial weights, parameter count) and its
inference pass, which scores a trained model's arrays without importing a framework (that costs seconds).

Every training logs its best weights as plain arrays too (``network.npz``, from the backend's ``network_arrays``);
the drift check scores the champion from them. The tests hold the pass to each framework's within float32 round-off.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.atomic import atomic_path
from fmnist.config import ModelConfig
from fmnist.errors import FmnistError

DENSE_FIELDS = ("kernel", "bias")
BN_FIELDS = ("gamma", "beta", "mean", "variance")


def preprocess(x_uint8: np.ndarray, model_cfg: ModelConfig) -> np.ndarray:
    """Map uint8 pixels (N, 784) to float32 network inputs as ``model_cfg.preprocessing`` says."""
    if x_uint8.dtype != np.uint8:
        # A float array here almost always means the data was preprocessed twice.
        raise TypeError(f"expected uint8 pixels, got {x_uint8.dtype}")
    x = x_uint8.astype(np.float32)
    if model_cfg.preprocessing == "scale":
        x *= np.float32(1.0 / 255.0)
    elif model_cfg.preprocessing == "standardize":
        # One fused affine map in float32: (x/255 - mean)/std == x*a + b.
        x *= np.float32(1.0 / (255.0 * model_cfg.pixel_std))
        x += np.float32(-model_cfg.pixel_mean / model_cfg.pixel_std)
    else:
        raise ValueError(f"unknown preprocessing {model_cfg.preprocessing!r}")
    return x


def layer_sizes(model_cfg: ModelConfig) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every dense layer, input to output."""
    return list(itertools.pairwise([model_cfg.n_inputs, *model_cfg.hidden, model_cfg.n_classes]))


def initial_weights(model_cfg: ModelConfig, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel (fan_in, fan_out), bias) of every dense layer, for both frameworks to start from: He-normal kernels
    (std sqrt(2/fan_in), cut at 2 std like Keras's) and zero biases. BatchNorm's start is the same in both."""
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


@dataclass(frozen=True)
class NetworkArrays:
    """A trained network in inference mode: per Dense layer (kernel (in, out), bias), per BatchNorm layer
    (gamma, beta, moving mean, moving variance), and BatchNorm's epsilon."""

    dense: tuple[tuple[np.ndarray, np.ndarray], ...]
    batch_norm: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]
    epsilon: float


def save_arrays(arrays: NetworkArrays, path: Path) -> Path:
    """Write ``arrays`` as an uncompressed ``.npz`` of plain float32 arrays (no pickles), atomically."""
    named = {"epsilon": np.float32(arrays.epsilon)}
    for prefix, fields, layers in (("dense", DENSE_FIELDS, arrays.dense), ("bn", BN_FIELDS, arrays.batch_norm)):
        for i, layer in enumerate(layers):
            named |= {f"{prefix}{i}.{f}": np.asarray(a, np.float32) for f, a in zip(fields, layer, strict=True)}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **named)
    return path


def load_arrays(path: Path, model_cfg: ModelConfig) -> NetworkArrays:
    """Read what `save_arrays` wrote for a network of ``model_cfg``'s shape; pickled objects are refused."""
    sizes = layer_sizes(model_cfg)
    widths = [model_cfg.n_inputs, *model_cfg.hidden, model_cfg.n_classes]
    try:
        with np.load(path, allow_pickle=False) as saved:
            dense = tuple(tuple(saved[f"dense{i}.{f}"] for f in DENSE_FIELDS) for i in range(len(sizes)))
            bn = tuple(tuple(saved[f"bn{i}.{f}"] for f in BN_FIELDS) for i in range(len(model_cfg.hidden)))
            epsilon = float(saved["epsilon"])
    except (OSError, ValueError, KeyError) as exc:
        raise FmnistError(f"{Path(path).name}: not the arrays of a {widths} network ({exc})") from None
    shapes = [tuple(a.shape for a in layer) for layer in (*dense, *bn)]
    expected = [((n_in, n_out), (n_out,)) for n_in, n_out in sizes] + [((n,),) * 4 for n in model_cfg.hidden]
    if shapes != expected:
        raise FmnistError(f"{Path(path).name}: array shapes {shapes} are not those of a {widths} network")
    return NetworkArrays(dense, bn, epsilon)  # type: ignore[arg-type]


def predict_proba(arrays: NetworkArrays, x_uint8: np.ndarray, model_cfg: ModelConfig) -> np.ndarray:
    """Class probabilities (N, 10) float32: each hidden block Dense, ReLU, BatchNorm (moving statistics);
    dropout is the identity in inference; softmax over the last layer's output."""
    x = preprocess(x_uint8, model_cfg)
    for (kernel, bias), (gamma, beta, mean, variance) in zip(arrays.dense[:-1], arrays.batch_norm, strict=True):
        x = np.maximum(x @ kernel + bias, 0.0)
        x = (x - mean) * (gamma / np.sqrt(variance + np.float32(arrays.epsilon))) + beta
    kernel, bias = arrays.dense[-1]
    logits = x @ kernel + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32, copy=False)
