"""``mlflow models serve`` on the champion: the logged model is code that loads its run's weights, and the server
answers N×784 raw pixels with N×10 class probabilities, the ones fmnist's own loader gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fmnist.serve.model import Classifier
from fmnist.tracking import Tracker
from tests.e2e.serving import register_untrained_champion, served_probabilities
from tests.factories import make_arrays

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _champion(tmp_path: Path) -> tuple[Tracker, str]:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "serving")
    return tracker, register_untrained_champion(tracker, tmp_path)


def test_the_served_champion_answers_pixels_with_probabilities(tmp_path: Path) -> None:
    tracker, run_id = _champion(tmp_path)
    pixels, _ = make_arrays(5)
    env = {"MLFLOW_TRACKING_URI": tracker.uri}
    probabilities = served_probabilities("models:/fmnist@champion", env, pixels, tmp_path / "serve.log")
    assert probabilities.shape == (5, 10)
    expected = Classifier.from_run(tracker, run_id).predict_proba(pixels)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
