"""The tracker's asynchronous metric logging against a real local MLflow store."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import pytest

from fmnist.tracking import Tracker


@pytest.fixture()
def tracker(tmp_path: Path) -> Tracker:
    return Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "flush")


def test_every_batch_is_in_the_store_in_order_after_flush(tracker: Tracker) -> None:
    run_id = tracker.start_parent("p")
    for step in range(40):
        tracker.log_metrics(run_id, {"train/loss": 1.0 / (step + 1), "val/acc": step / 40}, step=step)
    tracker.flush()
    history = tracker.metric_history(run_id, "train/loss")
    assert [s for s, _ in history] == list(range(40))
    assert history[-1][1] == pytest.approx(1.0 / 40)
    assert len(tracker.metric_history(run_id, "val/acc")) == 40


def test_end_run_sends_pending_metrics_first_and_does_not_idle(tracker: Tracker) -> None:
    run_id = tracker.start_parent("p")
    tracker.log_metrics(run_id, {"timing/train": 3.0})
    started = time.perf_counter()
    tracker.end_run(run_id)
    # MLflow's own asynchronous queue made this wait about a second for its logging thread to notice.
    assert time.perf_counter() - started < 0.5
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["timing/train"] == 3.0


def test_a_batch_the_store_refused_is_raised_by_flush(tracker: Tracker) -> None:
    tracker.log_metrics("0" * 32, {"val/acc": 0.5})  # no such run
    with pytest.raises(mlflow.exceptions.MlflowException, match="0" * 32):
        tracker.flush()
    tracker.flush()  # the failure is reported once; nothing is left pending
