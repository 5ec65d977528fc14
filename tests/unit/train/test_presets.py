import dataclasses
from typing import get_args

import pytest

from fmnist.config import PresetName, flat_params, get_preset, preset_names


def test_known_presets() -> None:
    assert set(preset_names()) == {"seed", "parity", "tuned"}
    assert get_args(PresetName) == preset_names()  # what the flows accept is what there is


def test_unknown_preset_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"seed, parity, tuned"):
        get_preset("fast")


def test_presets_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_preset("seed").train.lr = 1.0  # type: ignore[misc]


def test_seed_preset_leaves_framework_defaults_and_parity_pins_them() -> None:
    seed, parity = get_preset("seed"), get_preset("parity")
    assert seed.model.bn_momentum is None and seed.model.bn_epsilon is None
    assert seed.train.adam_epsilon is None and seed.model.output == "softmax"
    assert parity.model.bn_momentum is not None and parity.model.bn_epsilon is not None
    assert parity.train.adam_epsilon is not None and parity.model.output == "logits"
    assert parity.model.init == "shared" and parity.train.batch_order == "shared"


def test_tuned_keeps_the_architecture() -> None:
    seed, tuned = get_preset("seed").model, get_preset("tuned").model
    assert (tuned.hidden, tuned.dropout, tuned.n_inputs, tuned.n_classes) == (
        seed.hidden,
        seed.dropout,
        seed.n_inputs,
        seed.n_classes,
    )


def test_flat_params_are_loggable_scalars() -> None:
    p = get_preset("seed")
    params = flat_params(p.model, p.train)
    assert params["model.hidden"] == "128-64-32"
    assert params["model.bn_momentum"] == "framework_default"
    assert all(isinstance(v, str | int | float) for v in params.values())
