"""Loading a registered model runs nothing from the artifact store: ``fmnist predict`` and the registry's scoring read
the trained run's weights and architecture only, never the logged model's pickle or code, and refuse a checkpoint
that is not plain weights with one line."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from fmnist.config import ModelConfig
from fmnist.data.parquet import write_split
from fmnist.errors import FmnistError
from fmnist.registry.registration import correct_per_image
from fmnist.serve.prediction import load_model
from fmnist.tracking import Tracker
from tests.cli import fmnist, user_env
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


CHECKPOINTS = ("sound", "pickled code", "pickle file")


def _model_name(checkpoint: str) -> str:
    return "hostile-" + checkpoint.replace(" ", "-")


@dataclass(frozen=True)
class Store:
    """One SQLite store holding, per checkpoint kind, a training run whose best checkpoint is of that kind and a
    hostile logged model of that run registered as ``hostile-<kind>@champion``; each kind has its own marker."""

    tracker: Tracker
    env: dict[str, str]
    folder: Path
    markers: dict[str, Path]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    import torch

    from fmnist.models import torch_net

    folder = tmp_path_factory.mktemp("hostile")
    env = user_env(folder)
    tracker = Tracker(env["MLFLOW_TRACKING_URI"])
    client = MlflowClient(tracker.uri)
    markers = {}
    for checkpoint in CHECKPOINTS:
        case = folder / _model_name(checkpoint)
        case.mkdir()
        marker = markers[checkpoint] = case / "pwned"
        run_id = tracker.start_parent("trained", {"framework": "torch"})
        tracker.log_text(run_id, json.dumps(asdict(MODEL_CFG)), "model_config.json")
        weights = case / ("best.pkl" if checkpoint == "pickle file" else "best.pt")
        if checkpoint == "sound":
            torch.save({"model": torch_net.build_model(MODEL_CFG, seed=0).state_dict()}, weights)
        else:
            torch.save({"model": _CreatesFile(marker)}, weights)
        tracker.log_artifact(run_id, weights, "checkpoints/best")
        logged = client.create_logged_model(tracker.experiment_id, name="model", source_run_id=run_id)
        client.log_model_artifacts(logged.model_id, str(_hostile_model_files(case / "model", marker)))
        name = _model_name(checkpoint)
        tracker.set_alias(name, "champion", tracker.register(logged.model_uri, name))
    write_split(folder / "images.parquet", *make_arrays(3))
    return Store(tracker, env, folder, markers)


def _registry_scores(tracker: Tracker, model_uri: str) -> np.ndarray:
    """How the registry scores the version: per-image correctness on a few images."""
    images, labels = make_arrays(20)
    return correct_per_image(tracker, model_uri, images.reshape(len(images), -1), labels)


def test_a_hostile_logged_model_is_never_run_only_its_run_s_weights_are_read(store: Store) -> None:
    uri, marker = f"models:/{_model_name('sound')}@champion", store.markers["sound"]
    result = fmnist("predict", "--model", uri, "images.parquet", cwd=store.folder, env=store.env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stdout.splitlines()) == 1 + 3
    assert _registry_scores(store.tracker, uri).shape == (20,)
    assert not marker.exists()

    # The payload is live: MLflow's own loader would have run it.
    mlflow.set_tracking_uri(store.tracker.uri)
    with pytest.raises(Exception):  # noqa: B017 (whatever MLflow makes of it after running it)
        mlflow.pyfunc.load_model(uri)
    assert marker.exists()


# `fmnist predict` loads its model with `load_model`; the test above runs the command itself.
@pytest.mark.parametrize(
    ("checkpoint", "why"), [("pickled code", "Weights only load failed"), ("pickle file", "best.pkl")]
)
def test_a_checkpoint_that_is_not_plain_weights_is_refused_unrun(store: Store, checkpoint: str, why: str) -> None:
    uri = f"models:/{_model_name(checkpoint)}@champion"
    with pytest.raises(FmnistError, match=f"cannot load model '{uri}'") as refused:
        load_model(uri, store.tracker)
    assert why in str(refused.value) and len(str(refused.value).splitlines()) == 1
    with pytest.raises(Exception, match=why):
        _registry_scores(store.tracker, uri)
    assert not store.markers[checkpoint].exists()
