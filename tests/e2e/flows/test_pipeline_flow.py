"""The pipeline flow on Prefect's test harness, with tiny generated data and a local MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import write_csv_pair
from tests.prefect_api import final_task_states

pytestmark = pytest.mark.slow


def _task_states(flow_run_id: str) -> dict[str, str | None]:
    from prefect.settings import PREFECT_API_URL

    return final_task_states(
        PREFECT_API_URL.value(), flow_run_id, ("ingest", "split", "evaluate", "register", "report")
    )


def test_flow_runs_every_stage_and_caches_ingest_and_split(harness: None, store: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from flows.pipeline import fmnist_pipeline
    from fmnist.tracking import Tracker

    source = write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)
    params = {"data_source": str(source), "max_epochs": 1, "work_dir": str(tmp_path / "work"), "experiment": "flow"}
    first = fmnist_pipeline(**params, return_state=True)
    assert first.is_completed(), first
    summary = first.result()
    assert set(summary["frameworks"]) == {"keras", "torch"}
    assert summary["splits"]["train"]["rows"] == 600 and summary["splits"]["official_test"]["rows"] == 300
    assert {r["name"] for r in summary["registered"]} == {"fmnist-keras", "fmnist-torch", "fmnist"}
    assert summary["verdict"].startswith("this PyTorch model vs this Keras model")

    tracker = Tracker(store, "flow")
    parent = MlflowClient(tracker.uri).get_run(summary["parent_run_id"])
    assert parent.data.tags["prefect.flow_run_id"] == str(first.state_details.flow_run_id)
    assert parent.info.status == "FINISHED"
    for fw in ("keras", "torch"):
        assert tracker.find_child(summary["parent_run_id"], f"{fw}-seed-42") == summary["frameworks"][fw]["run_id"]
    assert {c["status"] for c in tracker.children(summary["parent_run_id"])} == {"FINISHED"}

    states = _task_states(str(first.state_details.flow_run_id))
    assert states["ingest"] == "Completed" and states["split"] == "Completed"

    second = fmnist_pipeline(**params, return_state=True)
    assert second.is_completed()
    states = _task_states(str(second.state_details.flow_run_id))
    assert states["ingest"] == "Cached" and states["split"] == "Cached"
    assert states["evaluate"] == "Completed" and states["register"] == "Completed"


def test_invalid_parameters_are_rejected_before_anything_runs(harness: None, store: str, tmp_path: Path) -> None:
    from flows.pipeline import fmnist_pipeline

    for bad in ({"frameworks": ["jax"]}, {"max_epochs": 0}, {"preset": "fast"}, {"promotion_min_gain": -0.1}):
        state = fmnist_pipeline(**bad, work_dir=str(tmp_path), return_state=True)
        assert state.is_failed(), bad
        assert "validation error" in str(state.message).lower() or "parameters" in str(state.message).lower(), bad
    assert not (tmp_path / "splits").exists()


def test_multi_seed_mode_trains_nested_runs_and_compares_across_seeds(
    harness: None, store: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    from flows.pipeline import fmnist_pipeline
    from fmnist.tracking import Tracker

    source = write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)
    summary = fmnist_pipeline(
        data_source=str(source), max_epochs=1, seed=5, seeds=2, work_dir=str(tmp_path / "work"), experiment="seeds"
    )
    tracker = Tracker(store, "seeds")
    children = tracker.children(summary["parent_run_id"])
    assert sorted((c["framework"], c["seed"]) for c in children) == [
        ("keras", 5),
        ("keras", 6),
        ("torch", 5),
        ("torch", 6),
    ]
    assert all("official_test/acc" in c["metrics"] for c in children)
    parent = MlflowClient(tracker.uri).get_run(summary["parent_run_id"]).data
    for fw in ("keras", "torch"):
        accs = [c["metrics"]["official_test/acc"] for c in children if c["framework"] == fw]
        assert parent.metrics[f"seeds/{fw}/official_test_acc_mean"] == pytest.approx(sum(accs) / 2)
        # The registered model is (one of) the framework's best seed(s) on validation, not on the official test.
        chosen = next(c for c in children if c["run_id"] == summary["frameworks"][fw]["run_id"])
        assert chosen["metrics"]["val_eval/acc"] == max(
            c["metrics"]["val_eval/acc"] for c in children if c["framework"] == fw
        )
    assert parent.metrics["seeds/diff_ci_low_pt"] <= parent.metrics["seeds/official_test_diff_pt"]
    assert "Welch interval over seeds" in summary["comparison_markdown"] and "TOST" in summary["verdict"]
