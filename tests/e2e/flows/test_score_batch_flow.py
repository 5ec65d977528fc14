"""The batch-scoring flow on Prefect's test harness with a local MLflow store: an untrained model registered as
``fmnist@champion`` scores generated images; the predictions land in Parquet + CSV and the summary in an MLflow run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fmnist.classes import CLASS_NAMES
from tests.e2e.serving import register_untrained_champion
from tests.factories import make_arrays, snapshot, write_csv_pair

pytestmark = pytest.mark.slow


def _register_champion(store: str, tmp_path: Path) -> str:
    from fmnist.tracking import Tracker

    return register_untrained_champion(Tracker(store, "trainings"), tmp_path)


def _write_pngs(folder: Path, images: np.ndarray) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True)
    paths = [folder / f"img-{i}.png" for i in range(len(images))]
    for path, image in zip(paths, images, strict=True):
        Image.fromarray(image, mode="L").save(path)
    return paths


def _scoring_runs(store: str, experiment: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(store)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs([found.experiment_id], "tags.`fmnist.run_kind` = 'score-batch'")


def test_the_champion_scores_a_folder_of_pngs(harness: None, store: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from flows.score_batch import fmnist_score_batch
    from fmnist.serve.model import Classifier
    from fmnist.tracking import Tracker

    trained_by = _register_champion(store, tmp_path)
    images, _ = make_arrays(7, seed=3)
    paths = _write_pngs(tmp_path / "incoming", images)
    out = tmp_path / "scores" / "today"
    state = fmnist_score_batch(
        source=str(tmp_path / "incoming"), out_dir=str(out), confidence_threshold=0.2, experiment="scoring",
        return_state=True,
    )  # fmt: skip
    assert state.is_completed(), state
    summary = state.result()
    assert summary["model_version"] == "1" and summary["out_dir"] == str(out)

    # Both files, one row per image in the folder's order, with the probabilities the model itself gives.
    assert sorted(p.name for p in out.iterdir()) == ["predictions.csv", "predictions.parquet", "summary.json"]
    import pyarrow.parquet as pq

    table = pq.read_table(out / "predictions.parquet").to_pydict()
    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert table["source"] == [r["source"] for r in rows] == [str(p) for p in paths]
    probabilities = np.array([table[f"p_{i}"] for i in range(10)]).T
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    for row in rows:
        assert sum(float(row[f"p_{i}"]) for i in range(10)) == pytest.approx(1.0, abs=1e-5)
    expected = Classifier.from_run(Tracker(store, "trainings"), trained_by).predict_proba(images.reshape(7, -1))
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert table["class_id"] == expected.argmax(axis=1).tolist() == [int(r["class_id"]) for r in rows]
    assert table["class_name"] == [CLASS_NAMES[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose(table["confidence"], expected.max(axis=1), atol=1e-6)

    # The summary, in the flow's answer and in its own MLflow run.
    confidence = expected.max(axis=1)
    assert summary["summary"]["images"] == 7
    assert summary["summary"]["mean_confidence"] == pytest.approx(float(confidence.mean()), abs=1e-6)
    assert summary["summary"]["low_confidence_share"] == pytest.approx(float((confidence < 0.2).mean()))
    assert sum(summary["summary"]["class_counts"].values()) == 7
    (run,) = _scoring_runs(store, "scoring")
    assert run.info.run_id == summary["run_id"] and run.info.status == "FINISHED"
    assert run.data.tags["prefect.flow_run_id"] == str(state.state_details.flow_run_id)
    assert run.data.params["model_uri"] == "models:/fmnist@champion" and run.data.params["model_version"] == "1"
    assert run.data.params["source"] == str(tmp_path / "incoming") and run.data.params["threshold"] == "0.2"
    metrics = run.data.metrics
    assert metrics["score/images"] == 7
    assert metrics["score/mean_confidence"] == pytest.approx(summary["summary"]["mean_confidence"])
    assert metrics["score/low_confidence_share"] == pytest.approx(summary["summary"]["low_confidence_share"])
    assert {name: metrics[f"score/class_count/{name}"] for name in CLASS_NAMES} == summary["summary"]["class_counts"]
    client = MlflowClient(store)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "scores")}
    assert artifacts == {"scores/summary.json", "scores/predictions.csv"}
    logged = Path(client.download_artifacts(run.info.run_id, "scores/predictions.csv", str(tmp_path / "dl")))
    assert logged.read_text() == (out / "predictions.csv").read_text()


def test_a_csv_is_scored_by_row_into_the_default_folder(
    harness: None, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.score_batch import fmnist_score_batch

    _register_champion(store, tmp_path)
    source = write_csv_pair(tmp_path / "csv", n_train=5, n_test=2)
    monkeypatch.chdir(tmp_path)
    summary = fmnist_score_batch(source=str(source), model_uri="models:/fmnist/1", experiment="scoring")

    out = tmp_path / "data" / "scores" / summary["run_id"]
    assert summary["out_dir"] == str(out) and summary["model_version"] == "1"
    with open(out / "predictions.csv", newline="") as fh:
        assert [r["source"] for r in csv.DictReader(fh)] == [f"{source}#{i}" for i in range(5)]


def test_bad_input_is_one_line_and_writes_nothing(harness: None, store: str, tmp_path: Path) -> None:
    from flows.score_batch import fmnist_score_batch
    from fmnist.errors import DataError, FmnistError

    # A missing source: refused before MLflow is touched (no store, no run) or any folder is made.
    before = snapshot(tmp_path)
    with pytest.raises(DataError) as caught:
        fmnist_score_batch(source=str(tmp_path / "nowhere"), out_dir=str(tmp_path / "out"), experiment="scoring")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'nowhere'}: no such file or folder")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()

    # A model that is not registered: one line naming it, no scoring run, no folder.
    _write_pngs(tmp_path / "incoming", make_arrays(2)[0])
    with pytest.raises(FmnistError) as caught:
        fmnist_score_batch(
            source=str(tmp_path / "incoming"), model_uri="models:/nope@champion", out_dir=str(tmp_path / "out"),
            experiment="scoring",
        )  # fmt: skip
    assert "\n" not in str(caught.value) and "cannot load model 'models:/nope@champion'" in str(caught.value)
    assert not (tmp_path / "out").exists() and _scoring_runs(store, "scoring") == []


def test_the_command_runs_the_flow_and_prints_its_summary(store: str, tmp_path: Path) -> None:
    from tests.cli import fmnist, user_env

    _register_champion(store, tmp_path)
    _write_pngs(tmp_path / "incoming", make_arrays(3)[0])
    env = user_env(tmp_path / "mlruns", PREFECT_HOME=str(tmp_path / "prefect"))
    env.pop("PREFECT_API_URL", None)  # Prefect's ephemeral API, as a user without a server gets
    result = fmnist(
        "score-batch", "incoming", "--out", "out", "--threshold", "0.3", "--experiment", "cli", "--json",
        cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["summary"]["images"] == 3 and summary["summary"]["threshold"] == 0.3
    assert summary["out_dir"] == str(tmp_path / "out") and (tmp_path / "out" / "predictions.parquet").is_file()
    (run,) = _scoring_runs(store, "cli")
    assert run.info.run_id == summary["run_id"] and run.data.params["model_version"] == "1"
