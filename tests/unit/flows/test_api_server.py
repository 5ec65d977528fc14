"""The temporary Prefect API server: a real server process on loopback, started, answered, stopped."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from flows import api_server
from flows.api_server import TemporaryApiServer

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def prefect_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_server_answers_on_loopback_and_is_gone_after_stop() -> None:
    server = TemporaryApiServer()
    server.launch()
    try:
        server.wait_ready(timeout=120)
        assert server.api_url.startswith("http://127.0.0.1:")
        assert _answers(server.api_url)
        process = server.process
    finally:
        server.stop()
    assert process is not None and process.poll() is not None  # reaped, not left behind
    assert not _answers(server.api_url)
    server.stop()  # a second stop is harmless


def test_a_port_taken_before_the_server_binds_it_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(api_server, "free_port", lambda: taken.getsockname()[1])
        server = TemporaryApiServer()
        server.launch()
        # Not another port: the caller may have handed this server's URL to Prefect already.
        with pytest.raises(RuntimeError, match=f"port {taken.getsockname()[1]} was taken"):
            server.wait_ready(timeout=120)
        assert server.process is None


def test_servers_started_together_on_one_fresh_database_all_come_up_on_their_ports() -> None:
    # Their start-ups migrate the same new SQLite database at the same moment; the one that fails is restarted.
    for _ in range(2):
        servers = [TemporaryApiServer() for _ in range(3)]
        for server in servers:
            server.launch()
        ports = [server.port for server in servers]
        try:
            for server in servers:
                server.wait_ready(timeout=120)
            assert [server.port for server in servers] == ports
            assert all(_answers(server.api_url) for server in servers)
        finally:
            for server in servers:
                server.stop()


def test_a_server_that_cannot_start_is_reported_with_its_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "nosuchdialect://nowhere/db")
    server = TemporaryApiServer()
    server.launch()
    with pytest.raises(RuntimeError, match="exited with code"):
        server.wait_ready(timeout=120)
    server.stop()
