"""The artifact store fails: a missing bucket, refused credentials, a store that went away, a split changed in the
store. Against a real MLflow server and moto's S3 on loopback: each is one line that names the store and the
problem, and nothing half-downloaded or changed reaches a worker's cache. A worker that holds a split already
fetches nothing."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from fmnist.errors import ArtifactStoreError, DataError
from fmnist.tracking import Tracker
from fmnist.tracking.split_store import fetch_split, publish_split
from tests.e2e.services import S3_KEYS, mlflow_server, s3_server
from tests.factories import write_splits

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _few_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")


def _one_line_about_the_store(error: pytest.ExceptionInfo, server: str, doing: str) -> None:
    message = str(error.value)
    assert "\n" not in message, message
    assert message.startswith("artifact store mlflow-artifacts:/") and f"behind the MLflow server {server}" in message
    problem = r"the server answered HTTP 500 every time|the server broke off the transfer"
    assert re.search(rf"{doing} \S+ failed \(({problem})\)", message), message


@pytest.mark.parametrize("fault", ["missing bucket", "refused credentials"])
def test_a_store_that_refuses_uploads_is_one_line(tmp_path: Path, fault: str) -> None:
    split = write_splits(tmp_path / "split")
    with contextlib.ExitStack() as stack:
        endpoint = stack.enter_context(s3_server(tmp_path, check_credentials=fault == "refused credentials"))
        bucket = "s3://no-such-bucket/mlflow" if fault == "missing bucket" else "s3://fmnist/mlflow"
        url = stack.enter_context(mlflow_server(tmp_path, bucket, {**S3_KEYS, "MLFLOW_S3_ENDPOINT_URL": endpoint}))
        with pytest.raises(ArtifactStoreError) as error:
            publish_split(Tracker(url, "faults"), split)
    _one_line_about_the_store(error, url, "uploading")


def test_a_store_gone_after_publishing_fails_the_fetch_and_leaves_no_partial_split(tmp_path: Path) -> None:
    split = write_splits(tmp_path / "split")
    cache = tmp_path / "cache"
    with contextlib.ExitStack() as stack:
        s3 = s3_server(tmp_path)
        endpoint = s3.__enter__()
        url = stack.enter_context(
            mlflow_server(tmp_path, "s3://fmnist/m", {**S3_KEYS, "MLFLOW_S3_ENDPOINT_URL": endpoint})
        )
        tracker = Tracker(url, "faults")
        ref = publish_split(tracker, split)
        s3.__exit__(None, None, None)  # the store goes away; the tracking server stays
        with pytest.raises(ArtifactStoreError) as error:
            fetch_split(tracker, ref, cache)
    _one_line_about_the_store(error, url, "downloading")
    assert sorted(p.name for p in (cache / "splits").iterdir()) == []  # no split, no staging folder


def test_a_split_changed_in_the_store_is_refused_and_a_held_one_is_not_fetched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = write_splits(tmp_path / "split")
    cache = tmp_path / "cache"
    with mlflow_server(tmp_path, str(tmp_path / "artifacts"), {}) as url:
        tracker = Tracker(url, "faults")
        ref = publish_split(tracker, split)
        assert publish_split(tracker, split) == ref  # once per manifest
        fetched = fetch_split(tracker, ref, cache)
        assert fetched == cache / "splits" / ref.manifest_sha256
        # A worker that holds it fetches nothing.
        downloads = []
        monkeypatch.setattr(tracker, "download_artifact", lambda *args: downloads.append(args))
        assert fetch_split(tracker, ref, cache) == fetched and downloads == []
        monkeypatch.undo()

        (stored,) = (tmp_path / "artifacts").rglob("split/val.parquet")
        stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
        other_cache = tmp_path / "other-cache"
        with pytest.raises(DataError, match=r"val\.parquet: sha256 .* does not match"):
            fetch_split(tracker, ref, other_cache)
    assert sorted(p.name for p in (other_cache / "splits").iterdir()) == []
