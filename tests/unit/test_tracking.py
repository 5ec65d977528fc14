"""The tracker against a real local MLflow store: asynchronous metric logging, HTTP retry settings, and which run
a model URI leads to."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

from fmnist.errors import FmnistError
from fmnist.tracking import Tracker
from fmnist.tracking.client import HTTP_RETRY_DEFAULTS, ModelRef, parse_model_uri
from tests.fresh_python import fresh_python


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
    client = tracker._client  # the tracker's own client, wrapped to record who calls it when
    release, calls = threading.Event(), []
    log_batch, set_terminated = client.log_batch, client.set_terminated

    def held_log_batch(*args: Any, **kwargs: Any) -> None:
        release.wait(timeout=30)
        calls.append(("log_batch", threading.current_thread().name))
        log_batch(*args, **kwargs)

    def recorded_set_terminated(*args: Any, **kwargs: Any) -> None:
        calls.append(("set_terminated", threading.current_thread().name))
        set_terminated(*args, **kwargs)

    monkeypatch.setattr(client, "log_batch", held_log_batch)
    monkeypatch.setattr(client, "set_terminated", recorded_set_terminated)
    tracker.log_metrics(run_id, {"timing/train": 3.0})
    assert calls == []  # the caller did not wait for the store
    release.set()
    tracker.end_run(run_id)
    # Sent by the tracker's own thread, not MLflow's asynchronous logging (whose flush idles about a second).
    assert [name for name, _ in calls] == ["log_batch", "set_terminated"]
    assert calls[0][1].startswith("fmnist-metrics") and calls[1][1] == threading.current_thread().name
    run = MlflowClient(tracker.uri).get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["timing/train"] == 3.0


def test_a_batch_the_store_refused_is_raised_by_flush(tracker: Tracker) -> None:
    tracker.log_metrics("0" * 32, {"val/acc": 0.5})  # no such run
    with pytest.raises(mlflow.exceptions.MlflowException, match="0" * 32):
        tracker.flush()
    tracker.flush()  # the failure is reported once; nothing is left pending


def test_importing_the_package_changes_no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in HTTP_RETRY_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    script = "import os, fmnist.tracking; print(sorted(k for k in os.environ if k.startswith('MLFLOW_HTTP_')))"
    assert fresh_python(script) == "[]"


def test_a_tracker_applies_the_retry_defaults_where_the_user_set_none(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in HTTP_RETRY_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")
    Tracker(store, "retries")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == HTTP_RETRY_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"  # the user's own setting wins


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/fmnist@champion", ModelRef("alias", "fmnist", "champion")),
        ("models:/fmnist-torch/12", ModelRef("version", "fmnist-torch", "12")),
        ("models:/m-0123abcd", ModelRef("logged", "m-0123abcd")),
        ("runs:/0a1b2c3d/model", ModelRef("run", "0a1b2c3d", "model")),
    ],
)
def test_model_uri_forms(uri: str, expected: ModelRef) -> None:
    assert parse_model_uri(uri) == expected


@pytest.mark.parametrize(
    "uri", ["fmnist@champion", "models:/fmnist", "models:/fmnist/latest", "models:/a/b/c", "runs:/abc", "s3://b/m"]
)
def test_other_model_uris_are_refused_naming_the_forms(uri: str) -> None:
    with pytest.raises(FmnistError, match=r"not understood; use models:/<name>@<alias>, models:/<name>/<version>"):
        parse_model_uri(uri)


def test_every_model_uri_form_leads_to_the_run_that_trained_the_model(tracker: Tracker) -> None:
    run_id = tracker.start_parent("trained")
    logged = MlflowClient(tracker.uri).create_logged_model(tracker.experiment_id, name="model", source_run_id=run_id)
    version = tracker.register(logged.model_uri, "uri-test")
    tracker.set_alias("uri-test", "champion", version)
    for uri in (logged.model_uri, "models:/uri-test@champion", f"models:/uri-test/{version}", f"runs:/{run_id}/model"):
        assert tracker.source_run(uri) == run_id, uri


@pytest.mark.parametrize("uri", ["models:/uri-test@nobody", "models:/no-such-model/1", "models:/m-0123abcd"])
def test_a_model_uri_naming_nothing_is_one_clear_error(tracker: Tracker, uri: str) -> None:
    with pytest.raises(FmnistError, match=f"model {uri}: ") as raised:
        tracker.source_run(uri)
    assert "\n" not in str(raised.value)


# Imports first, then says so on stdout and waits for a line on stdin before it opens the store: its first
# connection then runs MLflow's schema check against the write lock the test holds.
_OPEN_STORE = """
import sys
from fmnist.tracking import Tracker
print("imported", flush=True)
sys.stdin.readline()
Tracker(sys.argv[1], "locked")
print("opened", flush=True)
"""


@pytest.mark.slow
def test_a_process_opening_the_store_waits_out_another_s_write_lock(tmp_path: Path) -> None:
    """Past sqlite3's default 5 s (what MLflow's schema check on a first connection would wait) it still opens."""
    database = tmp_path / "mlflow.db"
    Tracker(f"sqlite:///{database}", "locked")
    opener = subprocess.Popen(
        [sys.executable, "-c", _OPEN_STORE, f"sqlite:///{database}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert opener.stdout.readline().strip() == "imported"
    writer = sqlite3.connect(database)
    writer.execute("BEGIN EXCLUSIVE")
    opener.stdin.write("go\n")
    opener.stdin.flush()
    time.sleep(7)  # the store is locked for longer than sqlite3's default timeout
    writer.rollback()
    writer.close()
    out, err = opener.communicate(timeout=120)
    assert opener.returncode == 0 and out.strip() == "opened", err[-2000:]
