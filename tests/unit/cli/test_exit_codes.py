"""The exit status tells what kind of failure it was (docs/usage.md, "Exit codes"): 2 bad usage or input, 1 a run
that failed while running, 3 a server out of reach. Each is one ``error:`` line, no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cli import assert_one_line_error, fmnist, user_env
from tests.http_server import closed_port

ROOT = Path(__file__).resolve().parents[3]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    return lines[0]


def test_bad_input_exits_2(tmp_path: Path) -> None:
    result = fmnist("split", "--data-source", "missing", "--out", "out", cwd=tmp_path, env=user_env(tmp_path))
    assert_one_line_error(result, "missing: no such file or directory")  # checks the status: 2


def test_an_unreachable_tracking_server_exits_3(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    env = user_env(tmp_path, MLFLOW_TRACKING_URI=uri, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    result = fmnist("report", "--run-id", "0" * 32, cwd=tmp_path, env=env)
    assert result.returncode == 3, result.stderr[-2000:]
    assert f"MLflow tracking server {uri} unreachable" in one_error_line(result)
