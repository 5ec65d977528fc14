"""Which backend trains which framework, and which of them a process has imported."""

from __future__ import annotations

import inspect

import pytest

from fmnist.errors import FmnistError
from fmnist.train.loop import Backend
from fmnist.train.trainers import FRAMEWORKS, trainer
from tests.fresh_python import fresh_python


def test_each_framework_has_a_backend_of_the_shared_loop() -> None:
    backends = {fw: trainer(fw) for fw in FRAMEWORKS}
    assert {fw: b.FRAMEWORK for fw, b in backends.items()} == {"keras": "keras", "torch": "torch"}
    assert all(issubclass(b, Backend) and not inspect.isabstract(b) for b in backends.values())


def test_an_unknown_framework_is_named_with_the_choices() -> None:
    with pytest.raises(FmnistError, match="unknown framework 'jax'; choose one of keras, torch"):
        trainer("jax")


def test_imported_frameworks_tells_what_this_process_has_imported_and_imports_nothing() -> None:
    # A fresh interpreter: this one has imported both trainers in the tests above.
    script = (
        "import sys\n"
        "from fmnist.train.trainers import imported_frameworks, trainer\n"
        "before = imported_frameworks()\n"
        "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules, 'imported a framework'\n"
        "trainer('torch')\n"
        "print(before, imported_frameworks())\n"
    )
    assert fresh_python(script) == "[] ['torch']"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_warm_up_leaves_the_trainings_after_it_unchanged(framework: str) -> None:
    from fmnist.config import ModelConfig, TrainConfig
    from fmnist.train.trainers import warm_up
    from tests.unit.train.synthetic import make_data

    def train() -> list[tuple[float, float]]:
        result = trainer(framework).fit(make_data(), ModelConfig(), TrainConfig(batch_size=64, max_epochs=2, seed=7))
        return [(m.train_loss, m.val_loss) for m in result.history]

    before = train()
    assert warm_up(framework) > 0
    assert train() == before
