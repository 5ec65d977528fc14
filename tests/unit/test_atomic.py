from __future__ import annotations

from pathlib import Path

import pytest

from fmnist.atomic import atomic_folder, atomic_path, atomic_write_text, disk_full_as_error, staged_files


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


def test_staged_files_move_in_together_sub_folders_included(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with staged_files(out) as staging:
        (staging / "figures").mkdir()
        (staging / "figures" / "a.png").write_bytes(b"png")
        (staging / "report.md").write_text("md")
        assert not (out / "report.md").exists()  # nothing is in place before the block ends
    assert (out / "figures" / "a.png").read_bytes() == b"png" and (out / "report.md").read_text() == "md"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["figures", "figures/a.png", "report.md"]


def test_staged_files_leave_the_folder_as_it_was_when_writing_fails(tmp_path: Path) -> None:
    out = tmp_path / "splits"
    out.mkdir()
    (out / "train.parquet").write_text("old train")
    with pytest.raises(RuntimeError), staged_files(out) as staging:
        (staging / "train.parquet").write_text("new train")
        raise RuntimeError("the second file failed")
    assert [p.name for p in out.iterdir()] == ["train.parquet"]
    assert (out / "train.parquet").read_text() == "old train"


def test_an_atomic_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "batch") as staging:
        (staging / "a.parquet").write_text("a")
        raise RuntimeError("the second file failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_folder(tmp_path / "batch") as staging:
        (staging / "a.parquet").write_text("a")
        assert not (tmp_path / "batch").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["batch"] and (tmp_path / "batch" / "a.parquet").read_text() == "a"


def test_a_full_disk_is_one_error_naming_the_file() -> None:
    import errno

    from fmnist.errors import DiskFullError, is_disk_full

    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(RuntimeError("file write failed (errno = 28, error message = 'No space left on device')"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    expected = r"no space left on the device holding /x/y\.pt"
    with pytest.raises(DiskFullError, match=expected) as caught, disk_full_as_error(Path("/x/y.pt")):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.exit_code == 1
