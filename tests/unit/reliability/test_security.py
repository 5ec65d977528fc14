"""Security checks: safe deserialisation, no unpickling of user files, contained output paths, loopback servers
and no secrets in logs or MLflow."""

from __future__ import annotations

import ast
import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.cli import assert_one_line_error, fmnist, user_env
from tests.factories import make_arrays, snapshot, write_release

ROOT = Path(__file__).resolve().parents[3]
SECRET = "s3cret-XYZ"


@pytest.fixture()
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return user_env(tmp_path_factory.mktemp("mlflow"))


# --- (a) checkpoints are loaded without running pickled code ----------------------------------------------------


class _CreatesFile:
    """Unpickling this calls ``open(path, "w")``: a stand-in for arbitrary code in a hostile checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_torch_checkpoint_with_pickled_code_is_refused(tmp_path: Path) -> None:
    import torch

    from fmnist.config import get_preset
    from fmnist.train.torch_backend import TorchBackend

    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "best.pt"
    torch.save({"model": _CreatesFile(marker), "epoch": 1}, checkpoint)

    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        TorchBackend.load_checkpoint(checkpoint, get_preset("seed").model)
    assert not marker.exists()

    # The payload is live: an unrestricted load would have run it.
    torch.load(checkpoint, weights_only=False)
    assert marker.exists()


def _calls(name: str) -> Iterator[tuple[Path, ast.Call]]:
    """Every call of ``<something>.name(...)`` or ``name(...)`` in the library, flows and tasks."""
    for folder in ("fmnist", "flows", "tasks"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    func = node.func
                    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                    if called == name:
                        yield path, node


def test_no_code_path_deserialises_with_pickle() -> None:
    # Static companion of the test above: every torch.load is weights-only, no np.load allows pickles, and
    # nothing calls a pickle-family loader directly.
    pickle_loaders = {f"{m}.{f}" for m in ("pickle", "joblib", "cloudpickle", "dill") for f in ("load", "loads")}
    torch_loads = 0
    for name in ("load", "loads"):
        for path, node in _calls(name):
            func = ast.unparse(node.func)
            keywords = {kw.arg: ast.unparse(kw.value) for kw in node.keywords}
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            assert func not in pickle_loaders, where
            assert keywords.get("allow_pickle") != "True", where
            if func == "torch.load":
                torch_loads += 1
                assert keywords.get("weights_only") == "True", where
    assert torch_loads >= 1, "expected the trainer's torch.load calls"


# --- (b) `fmnist predict` never unpickles user-supplied files -------------------------------------------------


@pytest.mark.parametrize("name", ["images.npy", "images.pkl"])
def test_predict_rejects_pickle_capable_inputs_unread(tmp_path: Path, env: dict[str, str], name: str) -> None:
    marker = tmp_path / "pwned"
    payload = tmp_path / name
    if name.endswith(".npy"):
        np.save(payload, np.array([_CreatesFile(marker)], dtype=object), allow_pickle=True)
    else:
        payload.write_bytes(pickle.dumps(_CreatesFile(marker)))
    result = fmnist("predict", name, cwd=tmp_path, env=env)
    assert_one_line_error(result, f"{name}: unsupported input")
    assert not marker.exists()


# --- (c) output paths -------------------------------------------------------------------------------------------


def test_predict_out_refuses_a_symlink(tmp_path: Path, env: dict[str, str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / "p.csv").symlink_to(elsewhere / "victim.csv")
    result = fmnist("predict", "--out", "p.csv", "missing.png", cwd=work, env=env)
    assert_one_line_error(result, "--out p.csv: is a symbolic link")
    assert snapshot(elsewhere) == {}


def test_predict_out_refuses_a_folder(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "results").mkdir()
    result = fmnist("predict", "--out", "results", "missing.png", cwd=tmp_path, env=env)
    assert_one_line_error(result, "--out results: is a folder")


def test_predict_out_refuses_a_missing_folder(tmp_path: Path, env: dict[str, str]) -> None:
    result = fmnist("predict", "--out", "no/such/p.csv", "missing.png", cwd=tmp_path, env=env)
    assert_one_line_error(result, "--out no/such/p.csv: folder", "does not exist")
    assert not (tmp_path / "no").exists()


def test_predictions_csv_is_written_atomically_to_the_named_file(tmp_path: Path) -> None:
    from fmnist.serve.prediction import Predictions, write_csv

    out = tmp_path / "p.csv"
    out.write_text("old\n")
    write_csv(Predictions(["a", "b"], np.full((2, 10), 0.1, np.float32)), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]  # no temporary file left beside it
    assert out.read_text().splitlines()[0].startswith("source,class_id,class_name,p_0")


def test_split_out_holds_only_the_split_files(tmp_path: Path) -> None:
    from fmnist.data.ingest import ingest
    from fmnist.data.prepare import prepare_splits
    from fmnist.data.split import SplitSizes

    md5 = write_release(tmp_path / "release", n_train=40, n_test=10)
    before = snapshot(tmp_path)
    manifest = prepare_splits(ingest(tmp_path / "release", checksums=md5), tmp_path / "out", sizes=SplitSizes(10, 10))
    written = {k for k in snapshot(tmp_path) if k not in before}
    names = ["manifest.json", "official_test.parquet", "test.parquet", "train.parquet", "val.parquet"]
    assert sorted(written) == [f"out/{n}" for n in names]
    assert {info.file for info in manifest.splits.values()} == {n for n in names if n.endswith(".parquet")}


def test_manifest_naming_a_file_outside_its_folder_is_refused(tmp_path: Path) -> None:
    from fmnist.data.ingest import ingest
    from fmnist.data.manifest import read_manifest
    from fmnist.data.parquet import write_split
    from fmnist.data.prepare import prepare_splits
    from fmnist.data.split import SplitSizes
    from fmnist.errors import DataError

    md5 = write_release(tmp_path / "release", n_train=40, n_test=10)
    prepare_splits(ingest(tmp_path / "release", checksums=md5), tmp_path / "out", sizes=SplitSizes(10, 10))
    write_split(tmp_path / "decoy.parquet", *make_arrays(3))  # hashes fine, but `train.parquet` is what is read
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    manifest["splits"]["train"]["file"] = "../decoy.parquet"
    from fmnist.data.manifest import file_digest

    manifest["splits"]["train"]["sha256"] = file_digest(tmp_path / "decoy.parquet", "sha256")
    (tmp_path / "out" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"split 'train' names file '../decoy.parquet', expected 'train.parquet'"):
        read_manifest(tmp_path / "out")


# --- (d) servers bind to loopback -------------------------------------------------------------------------------


def test_stack_binds_every_server_to_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fmnist.ops import stack
    from fmnist.ops.loopback import HOST
    from fmnist.ops.processes import Started

    spawned: dict[str, list[str]] = {}

    def fake_spawn(command, env, log, cwd) -> Started:
        spawned[log.stem] = command
        return Started(0, 0.0)

    monkeypatch.setattr(stack, "spawn", fake_spawn)
    monkeypatch.setattr(stack, "_wait_http", lambda *args, **kwargs: None)
    monkeypatch.setattr(stack, "_prefect", lambda *args, **kwargs: None)
    monkeypatch.setattr(stack, "ensure_zombie_automation", lambda *args, **kwargs: None)
    config = stack.StackConfig(project_dir=tmp_path, state_dir=tmp_path / "state", mlruns_dir=tmp_path / "mlruns")
    state = stack.up(config)

    assert HOST == "127.0.0.1"
    for name in ("prefect-server", "mlflow-server"):
        command = spawned[name]
        assert command[command.index("--host") + 1] == "127.0.0.1", command
    assert not any("0.0.0.0" in part for command in spawned.values() for part in command)
    assert state.prefect_url.startswith("http://127.0.0.1:") and state.mlflow_url.startswith("http://127.0.0.1:")


# --- (e) no secret reaches logs or MLflow -----------------------------------------------------------------------


def test_environment_params_hold_versions_not_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from fmnist.tracking import environment_params

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", f"admin:{SECRET}")
    params = environment_params()
    assert all(key.startswith("env.") for key in params)
    assert SECRET not in json.dumps(params)


def test_stack_down_never_signals_a_process_it_cannot_prove_it_started(tmp_path: Path) -> None:
    """pid 0 or a negative pid, and a live pid whose start time differs from the recorded one (the pid was reused):
    `down` signals none of them. This test run's own pid stands for the reused one; a signal would end it."""
    import psutil

    from fmnist.ops.processes import since_boot
    from fmnist.ops.stack import STATE_FILE, down

    me = since_boot(psutil.Process())
    processes = {
        "prefect-server": {"pid": 0, "since_boot": me},
        "mlflow-server": {"pid": -1, "since_boot": me},
        "prefect-worker": {"pid": psutil.Process().pid, "since_boot": me - 60},
    }
    state = {"state_dir": str(tmp_path), "prefect_url": "u", "mlflow_url": "u", "processes": processes}
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    assert down(tmp_path, timeout=1) == []
    assert not (tmp_path / STATE_FILE).exists()
