"""A short real training of both frameworks, shared by the evaluation, registry, predict and report tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fmnist.config import get_preset
from fmnist.tracking import Tracker
from fmnist.train.tracked import TrainSummary, train_framework
from fmnist.train.trainers import FRAMEWORKS


@pytest.fixture(scope="package")
def trained(
    real_splits: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Tracker, str, dict[str, TrainSummary]]:
    root = tmp_path_factory.mktemp("eval")
    tracker = Tracker(uri=f"sqlite:///{root / 'mlruns' / 'mlflow.db'}", experiment="eval-test")
    parent = tracker.start_parent("eval-test")
    preset = get_preset("seed")
    summaries = {}
    for fw in FRAMEWORKS:
        summaries[fw] = train_framework(
            fw, real_splits, preset.model, replace(preset.train, max_epochs=1), tracker=tracker,
            parent_run_id=parent, checkpoint_root=root / "ckpt", preset="seed",
        )  # fmt: skip
    return tracker, parent, summaries
