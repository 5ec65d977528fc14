from __future__ import annotations

import fcntl
from pathlib import Path
from types import SimpleNamespace

import pytest

from fmnist.registry.registration import registry_lock


def _can_lock(path: Path) -> bool:
    """Whether another holder (a separate open file, as another process has) could take the lock now."""
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def test_the_registry_lock_is_exclusive_while_held_and_free_after(tmp_path: Path) -> None:
    lock_file = tmp_path / "mlflow.register.lock"
    with registry_lock(SimpleNamespace(uri=f"sqlite:///{tmp_path / 'mlflow.db'}")):
        assert not _can_lock(lock_file)  # a second process blocks here until the first leaves
    assert _can_lock(lock_file)


def test_no_lock_file_for_a_tracking_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with registry_lock(SimpleNamespace(uri="http://127.0.0.1:5000")):
        assert list(tmp_path.iterdir()) == []
