"""The NumPy inference pass gives each framework's own probabilities for the arrays it exports."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from fmnist.config import ModelConfig, TrainConfig
from fmnist.errors import FmnistError
from fmnist.models import numpy_net
from fmnist.models.numpy_net import load_arrays, save_arrays
from fmnist.train.trainers import FRAMEWORKS, trainer
from tests.unit.train.synthetic import make_data

# Momentum 0.5: two epochs move the moving statistics far from their (0, 1) start, so a pass that ignored them,
# or took one for the other, would give other probabilities.
CONFIGS = {
    "defaults": ModelConfig(bn_momentum=0.5),
    "softmax, standardized, own epsilon": ModelConfig(
        bn_momentum=0.5, output="softmax", preprocessing="standardize", bn_epsilon=0.5
    ),
}


@pytest.fixture(scope="module")
def data():
    return make_data(n_train=256, n_val=64)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name", CONFIGS)
def test_numpy_pass_matches_the_framework(framework: str, name: str, data, tmp_path: Path) -> None:
    model_cfg = CONFIGS[name]
    backend = trainer(framework)
    result = backend.fit(data, model_cfg, TrainConfig(max_epochs=2, seed=1, threads=1), checkpoint_dir=tmp_path)
    model = backend.load_checkpoint(Path(result.best_checkpoint), model_cfg)
    arrays = load_arrays(save_arrays(backend.network_arrays(model, model_cfg), tmp_path / "n.npz"), model_cfg)

    expected = backend.predict_proba(model, data.x_val, model_cfg)
    got = numpy_net.predict_proba(arrays, data.x_val, model_cfg)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert not np.allclose(arrays.batch_norm[0][2], 0.0)  # the moving mean was trained


def arrays_of(model_cfg: ModelConfig) -> numpy_net.NetworkArrays:
    rng = np.random.default_rng(0)
    widths = [model_cfg.n_inputs, *model_cfg.hidden, model_cfg.n_classes]
    dense = tuple((rng.normal(size=(a, b)), rng.normal(size=b)) for a, b in itertools.pairwise(widths))
    bn = tuple(tuple(rng.random(n) + 0.5 for _ in range(4)) for n in model_cfg.hidden)
    return numpy_net.NetworkArrays(dense, bn, 1e-3)  # type: ignore[arg-type]


def test_arrays_round_trip_as_float32(tmp_path: Path) -> None:
    cfg = ModelConfig(hidden=(8, 4))
    arrays = arrays_of(cfg)
    back = load_arrays(save_arrays(arrays, tmp_path / "n.npz"), cfg)
    for written, read in zip([*arrays.dense, *arrays.batch_norm], [*back.dense, *back.batch_norm], strict=True):
        for a, b in zip(written, read, strict=True):
            assert b.dtype == np.float32
            np.testing.assert_array_equal(b, a.astype(np.float32))
    assert back.epsilon == pytest.approx(1e-3)


def test_arrays_of_another_architecture_are_refused(tmp_path: Path) -> None:
    path = save_arrays(arrays_of(ModelConfig(hidden=(8, 4))), tmp_path / "n.npz")
    with pytest.raises(FmnistError, match="not those of a"):
        load_arrays(path, ModelConfig(hidden=(4, 8)))
    with pytest.raises(FmnistError, match="not the arrays"):
        load_arrays(path, ModelConfig(hidden=(8, 4, 2)))


def test_a_pickled_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.npz"
    np.savez(path, epsilon=np.float32(1e-3), **{"dense0.kernel": np.array([{"run": "code"}], dtype=object)})
    with pytest.raises(FmnistError, match=r"n\.npz: not the arrays"):
        load_arrays(path, ModelConfig(hidden=()))
