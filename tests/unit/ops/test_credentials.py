"""The stack's client settings file: fresh credentials, readable by the user only, never shown in an error."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from fmnist.errors import FmnistError
from fmnist.ops import credentials


def test_fresh_credentials_differ_every_time_and_need_no_shell_quoting() -> None:
    first, second = credentials.fresh("http://127.0.0.1:1/api", "http://127.0.0.1:2"), credentials.fresh("a", "b")
    assert first["PREFECT_API_AUTH_STRING"] != second["PREFECT_API_AUTH_STRING"]
    assert first["MLFLOW_TRACKING_PASSWORD"] != second["MLFLOW_TRACKING_PASSWORD"]
    assert first["PREFECT_API_AUTH_STRING"].startswith(f"{first['MLFLOW_TRACKING_USERNAME']}:")
    assert all(re.fullmatch(r"[\w:/.-]+", value) for value in first.values())  # the file is sourced by a shell


def test_the_file_is_the_users_only_and_reads_back(tmp_path: Path) -> None:
    old = os.umask(0)  # the most permissive umask: the file's mode must not depend on it
    try:
        path = tmp_path / "client.env"
        settings = credentials.fresh("http://127.0.0.1:1/api", "http://127.0.0.1:2")
        credentials.write(path, settings)
        credentials.write(path, settings)  # replacing it keeps the mode too
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.read(path) == settings
    assert [p.name for p in tmp_path.iterdir()] == ["client.env"]  # no temporary file left


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "client.env"
    credentials.write(path, {"MLFLOW_TRACKING_PASSWORD": "s3cret"})
    path.chmod(0o644)
    with pytest.raises(FmnistError, match="can be read by other users; remove it"):
        credentials.read(path)


@pytest.mark.parametrize("text", ["PREFECT_API_AUTH_STRING fmnist:s3cret\n", "=s3cret\n", "\xff s3cret"])
def test_a_damaged_file_is_named_without_its_content(tmp_path: Path, text: str) -> None:
    path = tmp_path / "client.env"
    path.write_bytes(text.encode("latin-1"))
    path.chmod(0o600)
    with pytest.raises(FmnistError) as caught:
        credentials.read(path)
    assert str(path) in str(caught.value) and "s3cret" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FmnistError, match="run `fmnist stack up` again"):
        credentials.read(tmp_path / "client.env")
