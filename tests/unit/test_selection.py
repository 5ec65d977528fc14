"""Which training a pipeline registers: chosen on validation, never on the official test set it then reports."""

from __future__ import annotations

import random
from types import SimpleNamespace

from fmnist.experiments.pipeline import best_per_framework
from fmnist.train.tracked import TrainSummary


def _trained(framework: str, seed: int, val: float, official_test: float) -> TrainSummary:
    scores = {"val": SimpleNamespace(accuracy=val), "official_test": SimpleNamespace(accuracy=official_test)}
    return TrainSummary(framework, seed, f"{framework}-{seed}", "", 1, 1, {}, "", 0.0, scores=scores)


def test_the_registered_seed_is_the_best_on_validation_whatever_the_official_test_says() -> None:
    val = {("keras", 1): 0.90, ("keras", 2): 0.92, ("torch", 1): 0.88, ("torch", 2): 0.86}
    rng = random.Random(0)
    for _ in range(20):  # the official-test scores shuffled among the trainings
        official = rng.sample([0.80, 0.85, 0.90, 0.95], 4)
        trained = [_trained(fw, s, acc, off) for ((fw, s), acc), off in zip(val.items(), official, strict=True)]
        chosen = best_per_framework(trained)
        assert {fw: t.seed for fw, t in chosen.items()} == {"keras": 2, "torch": 1}
    # The control: chosen on the official test, the same trainings give another answer.
    trained = [_trained(fw, s, acc, 1 - acc) for (fw, s), acc in val.items()]
    assert {fw: t.seed for fw, t in best_per_framework(trained, "official_test").items()} == {"keras": 1, "torch": 2}
