"""Servers the end-to-end tests start on loopback, each in its own session and stopped on exit: moto's S3 and an
MLflow server whose artifacts go to a folder or a bucket."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from fmnist.ops.loopback import free_port
from tests.e2e.faults.processes import stop_group

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
S3_KEYS = {
    "AWS_ACCESS_KEY_ID": "fmnist-test",
    "AWS_SECRET_ACCESS_KEY": "fmnist-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer: {log.read_text()[-3000:]}")


@contextlib.contextmanager
def background(command: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, start_new_session=True, cwd=ROOT,
        )  # fmt: skip
    try:
        yield process
    finally:
        stop_group(process.pid, timeout=10)
        process.wait(timeout=10)


@contextlib.contextmanager
def s3_server(base: Path, check_credentials: bool = False) -> Iterator[str]:
    """moto's S3 server on loopback with an empty bucket ``fmnist``; yields its endpoint URL. With
    ``check_credentials``, every request after that bucket's creation must be signed by a known IAM user: any key
    is refused, as a real store refuses wrong credentials."""
    port = free_port()
    # Two requests go unsigned: the readiness probe (ListBuckets) and the bucket's creation.
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "2"} if check_credentials else {}
    with background([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], base / "moto.log", env) as moto:
        url = f"http://127.0.0.1:{port}"
        wait_http(url, moto, base / "moto.log")
        httpx.put(f"{url}/fmnist", timeout=10).raise_for_status()  # moto accepts an unsigned CreateBucket
        yield url


@contextlib.contextmanager
def mlflow_server(base: Path, destination: str, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}", "--artifacts-destination", destination,
               "--serve-artifacts"]  # fmt: skip
    with background(command, base / "mlflow.log", {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env}) as server:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health", server, base / "mlflow.log")
        yield url
