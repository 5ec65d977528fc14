"""Short trainings of both frameworks on the real splits, logged to a real local MLflow store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from fmnist.config import get_preset
from fmnist.data.parquet import read_split
from fmnist.models.numpy_net import NetworkArrays
from fmnist.serve.model import Classifier
from fmnist.tracking import Tracker
from fmnist.tracking.layout import NETWORK_ARRAYS_ARTIFACT
from fmnist.train.tracked import train_framework
from fmnist.train.trainers import FRAMEWORKS

pytestmark = pytest.mark.slow

METRICS = ("train/loss", "train/acc", "val/loss", "val/acc", "lr", "epoch_seconds", "samples_per_second")


@pytest.fixture()
def tracker(tmp_path: Path) -> Tracker:
    return Tracker(uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", experiment="test")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_params_metrics_checkpoints_and_model_are_logged(
    framework: str, real_splits: Path, tracker: Tracker, tmp_path: Path
) -> None:
    preset = get_preset("seed")
    parent = tracker.start_parent("test")
    summary = train_framework(
        framework, real_splits, preset.model, replace(preset.train, max_epochs=2), tracker=tracker,
        parent_run_id=parent, checkpoint_root=tmp_path / "ckpt", preset="seed",
    )  # fmt: skip
    run = MlflowClient(tracker.uri).get_run(summary.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["framework"] == framework
    assert run.data.tags["mlflow.parentRunId"] == parent
    params = run.data.params
    for key in (
        "preset",
        "seed",
        "threads",
        "train.batch_size",
        "bn_momentum",
        "bn_epsilon",
        "adam_epsilon",
        "kernel_initializer",
        "data.manifest_sha256",
        "framework_version",
    ):
        assert key in params, key
    assert params["train.batch_size"] == "64" and params["preset"] == "seed"
    for key in METRICS:
        history = tracker.metric_history(summary.run_id, key)
        assert [step for step, _ in history] == [1, 2], key
    assert run.data.metrics["stopped_epoch"] == 2
    assert 0.75 < run.data.metrics["val/acc"] <= 1.0
    artifacts = {a.path for a in MlflowClient(tracker.uri).list_artifacts(summary.run_id, "checkpoints")}
    assert {"checkpoints/best"} <= artifacts and any("epoch-002" in a for a in artifacts)
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {
        "fmnist-train",
        "fmnist-val",
        "fmnist-test",
        "fmnist-official_test",
    }

    mlflow.set_tracking_uri(tracker.uri)
    model = mlflow.pyfunc.load_model(summary.model_uri)  # what `mlflow models serve` serves
    pixels, labels = read_split(real_splits / "official_test.parquet")
    probabilities = model.predict(pixels[:500])
    assert probabilities.shape == (500, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities.argmax(axis=1) == labels[:500]).mean() > 0.75
    # Raw pixels in every form a caller has: N×28×28, floats, a DataFrame; all give the same answer.
    import pandas as pd

    for other in (pixels[:500].reshape(500, 28, 28), pixels[:500].astype(np.float64), pd.DataFrame(pixels[:500])):
        np.testing.assert_allclose(model.predict(other), probabilities, atol=1e-6)
    with pytest.raises(Exception, match=r"expected N×784 or N×28×28"):
        model.predict(pixels[:5, :100])
    assert model.metadata.signature.outputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": (-1, 10)}}
    ]
    # The best weights as plain arrays too: the NumPy pass gives the served model's probabilities.
    assert tracker.has_artifact(summary.run_id, NETWORK_ARRAYS_ARTIFACT)
    in_numpy = Classifier.from_uri(tracker, summary.model_uri, numpy=True)
    assert isinstance(in_numpy.model, NetworkArrays)
    np.testing.assert_allclose(in_numpy.predict_proba(pixels[:500]), probabilities, atol=2e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_interrupted_training_resumes_in_the_same_run_with_the_same_metrics(
    framework: str, real_splits: Path, tracker: Tracker, tmp_path: Path
) -> None:
    preset = get_preset("seed")
    train_cfg = replace(preset.train, max_epochs=3, seed=11)
    common = {"tracker": tracker, "checkpoint_root": tmp_path / "ckpt", "preset": "seed"}

    straight = train_framework(
        framework, real_splits, preset.model, train_cfg, parent_run_id=tracker.start_parent("a"), **common
    )

    class SimulatedStopError(Exception):
        pass

    def stop_after_first_epoch(metrics: object) -> None:
        raise SimulatedStopError

    parent = tracker.start_parent("b")
    with pytest.raises(SimulatedStopError):
        train_framework(
            framework, real_splits, preset.model, train_cfg, parent_run_id=parent,
            on_epoch_end=stop_after_first_epoch, **common,
        )  # fmt: skip
    interrupted_run = tracker.find_child(parent, framework)
    assert tracker.run(interrupted_run)["status"] == "FAILED"  # an error, not an interruption
    resumed = train_framework(framework, real_splits, preset.model, train_cfg, parent_run_id=parent, **common)

    assert resumed.run_id == interrupted_run
    assert tracker.run(resumed.run_id)["status"] == "FINISHED"
    for key in ("train/loss", "val/loss", "val/acc"):
        a = tracker.metric_history(straight.run_id, key)
        b = tracker.metric_history(resumed.run_id, key)
        assert [s for s, _ in b] == [1, 2, 3], key
        np.testing.assert_allclose([v for _, v in b], [v for _, v in a], rtol=1e-6, err_msg=key)
