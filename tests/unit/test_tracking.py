"""The tracker's asynchronous metric logging against a real local MLflow store."""

from __future__ import annotations

import threading
from typing import Any

import mlflow
import pytest

from fmnist.tracking import Tracker


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module: creating its schema is most of a test's time."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    Tracker(uri, "flush")
    return uri


@pytest.fixture()
def tracker(store: str) -> Tracker:
    return Tracker(store, "flush")


def test_every_batch_is_in_the_store_in_order_after_flush(tracker: Tracker) -> None:
    run_id = tracker.start_parent("p")
    for step in range(40):
        tracker.log_metrics(run_id, {"train/loss": 1.0 / (step + 1), "val/acc": step / 40}, step=step)
    tracker.flush()
    history = tracker.metric_history(run_id, "train/loss")
    assert [s for s, _ in history] == list(range(40))
    assert history[-1][1] == pytest.approx(1.0 / 40)
    assert len(tracker.metric_history(run_id, "val/acc")) == 40


def test_metrics_are_sent_in_the_background_and_end_run_sends_them_first(
    tracker: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = tracker.start_parent("p")
    release, calls = threading.Event(), []
    log_batch, set_terminated = tracker.client.log_batch, tracker.client.set_terminated

    def held_log_batch(*args: Any, **kwargs: Any) -> None:
        release.wait(timeout=30)
        calls.append(("log_batch", threading.current_thread().name))
        log_batch(*args, **kwargs)

    def recorded_set_terminated(*args: Any, **kwargs: Any) -> None:
        calls.append(("set_terminated", threading.current_thread().name))
        set_terminated(*args, **kwargs)

    monkeypatch.setattr(tracker.client, "log_batch", held_log_batch)
    monkeypatch.setattr(tracker.client, "set_terminated", recorded_set_terminated)
    tracker.log_metrics(run_id, {"timing/train": 3.0})
    assert calls == []  # the caller did not wait for the store
    release.set()
    tracker.end_run(run_id)
    # Sent by the tracker's own thread, not MLflow's asynchronous logging (whose flush idles about a second).
    assert [name for name, _ in calls] == ["log_batch", "set_terminated"]
    assert calls[0][1].startswith("fmnist-metrics") and calls[1][1] == threading.current_thread().name
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["timing/train"] == 3.0


def test_a_batch_the_store_refused_is_raised_by_flush(tracker: Tracker) -> None:
    tracker.log_metrics("0" * 32, {"val/acc": 0.5})  # no such run
    with pytest.raises(mlflow.exceptions.MlflowException, match="0" * 32):
        tracker.flush()
    tracker.flush()  # the failure is reported once; nothing is left pending
