from __future__ import annotations

from pathlib import Path

import pytest

from fmnist.atomic import atomic_path, atomic_write_text


def test_success_replaces_target(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_failure_mid_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the new cont")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_creates_parent_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.txt"
    atomic_write_text(target, "x")
    assert target.read_text() == "x"


def test_final_file_has_ordinary_permissions(tmp_path: Path) -> None:
    import os

    target = tmp_path / "f.txt"
    atomic_write_text(target, "x")
    reference = tmp_path / "plain.txt"
    reference.write_text("x")
    assert os.stat(target).st_mode == os.stat(reference).st_mode
