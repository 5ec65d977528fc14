import dataclasses

import numpy as np
import pytest
import torch

from fmnist.config import ModelConfig, get_preset
from fmnist.models import keras_net, torch_net
from fmnist.models.numpy_net import count_trainable_params, initial_weights

# 784*128+128 + 128*64+64 + 64*32+32 + 32*10+10 dense, + 2*(128+64+32) BatchNorm gamma/beta.
EXPECTED_PARAMS = 111_594


def test_both_frameworks_have_the_same_trainable_parameter_count() -> None:
    cfg = ModelConfig()
    assert count_trainable_params(cfg) == EXPECTED_PARAMS
    assert sum(p.numel() for p in torch_net.build_model(cfg, 0).parameters() if p.requires_grad) == EXPECTED_PARAMS
    assert sum(v.numpy().size for v in keras_net.build_model(cfg, 0).trainable_variables) == EXPECTED_PARAMS


def test_block_order_is_dense_relu_batchnorm_dropout() -> None:
    kinds = [type(m).__name__ for m in torch_net.build_model(ModelConfig(), 0).layers]
    assert kinds[:4] == ["Linear", "ReLU", "BatchNorm1d", "Dropout"]
    keras_kinds = [type(layer).__name__ for layer in keras_net.build_model(ModelConfig(), 0).layers]
    assert keras_kinds[:3] == ["Dense", "BatchNormalization", "Dropout"]
    assert keras_net.build_model(ModelConfig(), 0).layers[0].activation.__name__ == "relu"


def test_batchnorm_settings_translate_momentum_convention() -> None:
    cfg = ModelConfig(bn_momentum=0.1, bn_epsilon=1e-5)
    assert torch_net.bn_settings(cfg) == (0.1, 1e-5)
    assert keras_net.bn_settings(cfg) == pytest.approx((0.9, 1e-5))
    assert torch_net.bn_settings(ModelConfig()) == (0.1, 1e-5)
    assert keras_net.bn_settings(ModelConfig()) == (0.99, 1e-3)


def test_shared_init_gives_identical_outputs_in_both_frameworks() -> None:
    cfg = dataclasses.replace(get_preset("parity").model, dropout=0.2)
    x = np.random.default_rng(1).random((16, 784), dtype=np.float32)
    t_model = torch_net.build_model(cfg, seed=3).eval()
    with torch.no_grad():
        t_out = t_model(torch.from_numpy(x)).numpy()
    k_out = np.asarray(keras_net.build_model(cfg, seed=3)(x, training=False))
    np.testing.assert_allclose(t_out, k_out, rtol=1e-4, atol=1e-5)


def test_keras_seed_preset_ends_in_softmax_and_torch_in_logits() -> None:
    cfg = get_preset("seed").model
    x = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    k_out = np.asarray(keras_net.build_model(cfg, 0)(x, training=False))
    np.testing.assert_allclose(k_out.sum(axis=1), 1.0, rtol=1e-5)
    with torch.no_grad():
        t_out = torch_net.build_model(cfg, 0).eval()(torch.from_numpy(x)).numpy()
    assert not np.allclose(t_out.sum(axis=1), 1.0)


@pytest.mark.parametrize("init", ["reference", "shared"])
def test_build_model_is_deterministic_per_seed(init: str) -> None:
    cfg = ModelConfig(init=init)
    a, b, c = (torch_net.build_model(cfg, s) for s in (5, 5, 6))
    assert torch.equal(a.layers[0].weight, b.layers[0].weight)
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)
    k1, k2 = keras_net.build_model(cfg, 5), keras_net.build_model(cfg, 5)
    np.testing.assert_array_equal(k1.layers[0].kernel.numpy(), k2.layers[0].kernel.numpy())


def test_torch_build_model_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    torch_net.build_model(ModelConfig(), seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_initial_weights_are_truncated_he_normal() -> None:
    w = initial_weights(ModelConfig(), seed=0)
    kernel = w[0][0]
    std = np.sqrt(2 / 784)
    assert kernel.shape == (784, 128)
    assert kernel.std() == pytest.approx(std, rel=0.02)
    # Truncated at 2 std of the underlying normal (whose std is std/0.8796).
    assert np.abs(kernel).max() <= 2 * std / 0.87962566 + 1e-6
    assert all((bias == 0).all() for _, bias in w)
