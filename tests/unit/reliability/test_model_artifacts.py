"""Loading a registered model runs nothing from the artifact store: ``fmnist predict`` and the registry's scoring read
the trained run's weights and architecture only, never the logged model's pickle or code, and refuse a checkpoint
that is not plain weights with one line."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from fmnist.config import ModelConfig
from fmnist.data.parquet import write_split
from fmnist.registry.registration import correct_per_image
from fmnist.tracking import Tracker
from tests.cli import assert_one_line_error, fmnist, user_env
from tests.factories import make_arrays

MODEL_CFG = ModelConfig(hidden=(8,))


class _CreatesFile:
    """Unpickling this calls ``open(path, "w")``: a stand-in for arbitrary code in a hostile artifact."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _hostile_model_files(folder: Path, marker: Path) -> Path:
    """A pyfunc model whose pickle and whose model code each create ``marker`` when loaded."""
    folder.mkdir()
    (folder / "python_model.pkl").write_bytes(pickle.dumps(_CreatesFile(marker)))
    (folder / "model.py").write_text(f"open({str(marker)!r}, 'w')\n")
    flavour = {
        "loader_module": "mlflow.pyfunc.model",
        "python_model": "python_model.pkl",
        "model_code_path": "model.py",
    }
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": flavour}}))
    return folder


def _register(tmp_path: Path, checkpoint: str) -> tuple[Tracker, Path, dict[str, str]]:
    """A training run whose best checkpoint is ``checkpoint`` (``sound``, ``pickled code`` or ``pickle file``),
    a hostile logged model of that run registered as ``hostile@champion``; the store, the marker and an env."""
    import torch

    from fmnist.models import torch_net

    env = user_env(tmp_path)
    tracker = Tracker(env["MLFLOW_TRACKING_URI"])
    marker = tmp_path / "pwned"
    run_id = tracker.start_parent("trained", {"framework": "torch"})
    tracker.log_text(run_id, json.dumps(asdict(MODEL_CFG)), "model_config.json")
    weights = tmp_path / ("best.pkl" if checkpoint == "pickle file" else "best.pt")
    if checkpoint == "sound":
        torch.save({"model": torch_net.build_model(MODEL_CFG, seed=0).state_dict()}, weights)
    else:
        torch.save({"model": _CreatesFile(marker)}, weights)
    tracker.log_artifact(run_id, weights, "checkpoints/best")
    store = MlflowClient(tracker.uri)
    logged = store.create_logged_model(tracker.experiment_id, name="model", source_run_id=run_id)
    store.log_model_artifacts(logged.model_id, str(_hostile_model_files(tmp_path / "model", marker)))
    tracker.set_alias("hostile", "champion", tracker.register(logged.model_uri, "hostile"))
    return tracker, marker, env


def _registry_scores(tracker: Tracker) -> np.ndarray:
    """How the registry scores the version: per-image correctness on a few images."""
    images, labels = make_arrays(20)
    return correct_per_image(tracker, "models:/hostile@champion", images.reshape(len(images), -1), labels)


def test_a_hostile_logged_model_is_never_run_only_its_run_s_weights_are_read(tmp_path: Path) -> None:
    tracker, marker, env = _register(tmp_path, "sound")
    write_split(tmp_path / "images.parquet", *make_arrays(3))

    result = fmnist("predict", "--model", "models:/hostile@champion", "images.parquet", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stdout.splitlines()) == 1 + 3
    assert _registry_scores(tracker).shape == (20,)
    assert not marker.exists()

    # The payload is live: MLflow's own loader would have run it.
    mlflow.set_tracking_uri(tracker.uri)
    with pytest.raises(Exception):  # noqa: B017 (whatever MLflow makes of it after running it)
        mlflow.pyfunc.load_model("models:/hostile@champion")
    assert marker.exists()


@pytest.mark.parametrize(
    ("checkpoint", "why"), [("pickled code", "Weights only load failed"), ("pickle file", "best.pkl")]
)
def test_a_checkpoint_that_is_not_plain_weights_is_refused_unrun(tmp_path: Path, checkpoint: str, why: str) -> None:
    tracker, marker, env = _register(tmp_path, checkpoint)
    write_split(tmp_path / "images.parquet", *make_arrays(3))

    result = fmnist("predict", "--model", "models:/hostile@champion", "images.parquet", cwd=tmp_path, env=env)
    assert_one_line_error(result, "cannot load model 'models:/hostile@champion'", why)
    with pytest.raises(Exception, match=why):
        _registry_scores(tracker)
    assert not marker.exists()
