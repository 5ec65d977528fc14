"""A password in the data URL never reaches a log line, an error, an MLflow param, tag or artifact (the report
included) or a Prefect artifact: the pipeline downloads the real release from a loopback server that requires
HTTP basic auth, with the credentials in the URL, and every output is searched for the password.

Prefect keeps the flow run's parameters as they were given (the URL with its password); that record is the
user's own input, not an output, and is not searched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.http_server import basic_auth, closed_port, serve
from tests.prefect_api import api

pytestmark = pytest.mark.slow

SECRET = "pa55-Wd-XYZ"
USER = "reader"


def _files_of_every_run(store: str, tmp_path: Path) -> list[Path]:
    from mlflow import MlflowClient

    client = MlflowClient(store)
    files = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            assert SECRET not in json.dumps(run.data.params) + json.dumps(run.data.tags), run.info.run_name
            folder = tmp_path / "artifacts" / run.info.run_id
            local = Path(client.download_artifacts(run.info.run_id, "", str(folder)))
            files += [p for p in local.rglob("*") if p.is_file()]
    return files


def test_a_password_in_the_data_url_reaches_no_output(
    harness: None, store: str, real_data_dir: Path, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    from flows.pipeline import fmnist_pipeline

    with serve(real_data_dir, handler=basic_auth(f"{USER}:{SECRET}")) as url:
        with_password = url.replace("http://", f"http://{USER}:{SECRET}@")
        state = fmnist_pipeline(
            data_source=with_password, frameworks=["torch"], max_epochs=1, work_dir=str(tmp_path / "work"),
            experiment="secrets", return_state=True,
        )  # fmt: skip
    assert state.is_completed(), state
    summary = state.result()
    assert SECRET not in json.dumps(summary, default=str)

    files = _files_of_every_run(store, tmp_path)
    assert any(f.name == "report.html" for f in files)  # the report was among what was searched
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    from mlflow import MlflowClient

    parent = MlflowClient(store).get_run(summary["parent_run_id"])
    assert parent.data.params["data_source"] == with_password.replace(SECRET, "***")  # named, password hidden

    flow_run = str(state.state_details.flow_run_id)
    logs = api(PREFECT_API_URL.value(), "POST", "/logs/filter", {"limit": 200})
    artifacts = api(PREFECT_API_URL.value(), "POST", "/artifacts/filter", {"limit": 200})
    assert any(log["flow_run_id"] == flow_run for log in logs)  # type: ignore[union-attr]
    assert SECRET not in json.dumps(logs) and SECRET not in json.dumps(artifacts)


def test_a_password_in_an_unreachable_data_url_is_not_in_the_error(tmp_path: Path) -> None:
    url = f"http://{USER}:{SECRET}@127.0.0.1:{closed_port()}/"
    done = subprocess.run(
        [sys.executable, "-m", "fmnist", "--quiet", "ingest", "--data-source", url, "--cache-dir", str(tmp_path)],
        capture_output=True, text=True, env={**os.environ}, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert SECRET not in done.stdout + done.stderr
    assert f"{USER}:***@127.0.0.1" in done.stderr, done.stderr[-2000:]
