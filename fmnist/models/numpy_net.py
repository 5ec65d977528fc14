"""The network's inference pass in NumPy, from a trained model's arrays: scoring without importing a framework.

Importing TensorFlow or PyTorch costs seconds in a fresh process, the inference pass of this small network a few
milliseconds. A training run logs its best weights once more as plain arrays (``network.npz``, see
`fmnist.tracking.layout`); the drift check of a new batch scores the champion from them. Each backend's
``network_arrays`` exports them, and the tests hold the pass to the framework's own within float32 round-off.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.atomic import atomic_path
from fmnist.config import ModelConfig
from fmnist.errors import FmnistError
from fmnist.models.preprocess import preprocess


@dataclass(frozen=True)
class NetworkArrays:
    """A trained network in inference mode: per Dense layer (kernel (in, out), bias), per BatchNorm layer
    (gamma, beta, moving mean, moving variance), and BatchNorm's epsilon."""

    dense: tuple[tuple[np.ndarray, np.ndarray], ...]
    batch_norm: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]
    epsilon: float


DENSE_FIELDS = ("kernel", "bias")
BN_FIELDS = ("gamma", "beta", "mean", "variance")


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
    widths = [model_cfg.n_inputs, *model_cfg.hidden, model_cfg.n_classes]
    try:
        with np.load(path, allow_pickle=False) as saved:
            dense = tuple(tuple(saved[f"dense{i}.{f}"] for f in DENSE_FIELDS) for i in range(len(widths) - 1))
            bn = tuple(tuple(saved[f"bn{i}.{f}"] for f in BN_FIELDS) for i in range(len(model_cfg.hidden)))
            epsilon = float(saved["epsilon"])
    except (OSError, ValueError, KeyError) as exc:
        raise FmnistError(f"{Path(path).name}: not the arrays of a {widths} network ({exc})") from None
    shapes = [tuple(a.shape for a in layer) for layer in (*dense, *bn)]
    expected = [((n_in, n_out), (n_out,)) for n_in, n_out in itertools.pairwise(widths)]
    expected += [((n,),) * 4 for n in model_cfg.hidden]
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
