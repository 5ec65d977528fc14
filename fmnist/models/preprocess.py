"""Raw pixels → network inputs. Pure numpy, shared by both trainers and by the logged model."""

from __future__ import annotations

import numpy as np

from fmnist.config import ModelConfig


def preprocess(x_uint8: np.ndarray, model_cfg: ModelConfig) -> np.ndarray:
    """Map uint8 pixels (N, 784) to float32 network inputs as ``model_cfg.preprocessing`` says."""
    if x_uint8.dtype != np.uint8:
        # A float array here almost always means the data was preprocessed twice.
        raise TypeError(f"expected uint8 pixels, got {x_uint8.dtype}")
    x = x_uint8.astype(np.float32)
    if model_cfg.preprocessing == "scale":
        x *= np.float32(1.0 / 255.0)
        return x
    if model_cfg.preprocessing == "standardize":
        # One fused affine map: (x/255 - mean)/std == x*a + b, computed in float32.
        a = np.float32(1.0 / (255.0 * model_cfg.pixel_std))
        b = np.float32(-model_cfg.pixel_mean / model_cfg.pixel_std)
        x *= a
        x += b
        return x
    raise ValueError(f"unknown preprocessing {model_cfg.preprocessing!r}")
