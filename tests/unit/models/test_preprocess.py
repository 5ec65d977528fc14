import numpy as np
import pytest

from fmnist.config import ModelConfig
from fmnist.models.numpy_net import preprocess


def test_scale_maps_pixels_to_unit_interval() -> None:
    x = np.array([[0, 51, 255]], dtype=np.uint8)
    out = preprocess(x, ModelConfig(preprocessing="scale"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]], rtol=1e-6)


def test_standardize_uses_mean_and_std_on_unit_scale() -> None:
    cfg = ModelConfig(preprocessing="standardize", pixel_mean=0.2860, pixel_std=0.3530)
    x = np.array([[0, 128, 255]], dtype=np.uint8)
    expected = (x / 255.0 - 0.2860) / 0.3530
    np.testing.assert_allclose(preprocess(x, cfg), expected, rtol=1e-5, atol=1e-6)


def test_preprocess_does_not_modify_input() -> None:
    x = np.full((2, 784), 200, dtype=np.uint8)
    preprocess(x, ModelConfig(preprocessing="standardize"))
    assert (x == 200).all()


def test_rejects_already_float_input() -> None:
    with pytest.raises(TypeError, match="uint8"):
        preprocess(np.zeros((1, 784), np.float32), ModelConfig())
