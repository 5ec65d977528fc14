"""A trial that fails, on Prefect's test harness and a real Dask worker: an ablation retries it once and then leaves
it out for the table to report as missing; a pipeline or sweep (the default) fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmnist.experiments.cluster import ClusterSpec
from tests.factories import write_csv_pair
from tests.prefect_api import api

pytestmark = pytest.mark.slow


def test_a_trial_that_fails_twice_is_left_out_and_the_others_kept(harness: None, store: str, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    from flows.trials import run_trials
    from fmnist.data.ingest import ingest
    from fmnist.data.prepare import prepare_splits
    from fmnist.tracking import Tracker
    from fmnist.train.trial import Trial, TrialSetup

    split_dir = tmp_path / "split"
    prepare_splits(ingest(write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)), split_dir, seed=1)
    tracker = Tracker(store, "failed")
    parent = tracker.start_parent("failed")
    setup = TrialSetup(split_dir, "seed", parent, tmp_path / "ckpt", store, "failed", 1, ("official_test",))
    good = Trial("torch", 1, arm="baseline")
    bad = Trial("torch", 2, {"bn_momentum": "not a number"}, arm="broken")  # BatchNorm fails at the first step

    results = run_trials([good, bad], setup, ClusterSpec(workers=1), retries=1, missing_ok=True)
    assert [r.trial.name for r in results if r.trial] == [good.name]
    (run,) = api(PREFECT_API_URL.value(), "POST", "/task_runs/filter",
                 {"task_runs": {"name": {"any_": [f"train-{bad.name}"]}}})  # type: ignore[misc]  # fmt: skip
    assert run["run_count"] == 2 and run["state"]["type"] == "FAILED"  # tried, retried once, then given up
    statuses = {c["name"]: c["status"] for c in tracker.children(parent)}
    assert statuses == {good.name: "FINISHED", bad.name: "FAILED"}

    with pytest.raises(TypeError):  # without missing_ok, as a pipeline and a sweep run them, the failure propagates
        run_trials([bad], setup, ClusterSpec(workers=1))
