"""No secret from the environment reaches a training's output, its MLflow params, tags and artifacts, or any file
it writes: one real epoch of PyTorch on the real splits, logged to a local MLflow store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import fmnist, user_env
from tests.factories import snapshot

pytestmark = pytest.mark.slow

SECRET = "s3cret-XYZ"


def _every_run(uri: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiment_ids)


def test_no_secret_in_output_params_tags_or_artifacts(real_splits: Path, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    store = tmp_path / "mlflow"
    store.mkdir()
    env = user_env(store, MLFLOW_TRACKING_PASSWORD=SECRET, PREFECT_API_AUTH_STRING=f"admin:{SECRET}")
    result = fmnist(
        "train", "torch", "--data", str(real_splits), "--max-epochs", "1", "--checkpoints", "ckpt", "--json",
        cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert SECRET not in result.stdout and SECRET not in result.stderr

    uri = env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri)
    runs = _every_run(uri)
    assert len(runs) >= 2  # the parent and the torch child
    artifacts = 0
    for run in runs:
        assert SECRET not in json.dumps(run.data.params) and SECRET not in json.dumps(run.data.tags), run.info.run_id
        assert SECRET not in json.dumps([d.dataset.source for d in run.inputs.dataset_inputs])
        for path in _artifact_files(client, run.info.run_id):
            local = Path(client.download_artifacts(run.info.run_id, path, str(tmp_path / "dl")))
            assert SECRET.encode() not in local.read_bytes(), path
            artifacts += 1
    assert artifacts >= 3  # checkpoints, the model and its files were really read back

    # Belt and braces: the raw bytes of every file the command wrote (the SQLite store, artifacts, checkpoints).
    for folder in (store, tmp_path / "ckpt"):
        for name, data in snapshot(folder).items():
            assert SECRET.encode() not in data, name


def _artifact_files(client, run_id: str, path: str | None = None) -> Iterator[str]:
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            yield from _artifact_files(client, run_id, info.path)
        else:
            yield info.path
