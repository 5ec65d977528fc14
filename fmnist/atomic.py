"""Atomic file writes: write a temporary file in the same folder, then rename it.

A reader sees the old file or the complete new one, never a partial one; a crash leaves at most a stray ``.tmp-*``
file. A full disk is one :class:`~fmnist.errors.DiskFullError` naming the file, the old file intact.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fmnist.errors import DiskFullError, is_disk_full


@contextlib.contextmanager
def atomic_path(target: Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``, renamed onto it on success, else deleted. ``mode``: the final
    permissions (default: what ``open()`` gives)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{target.name}-", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600, so a private file is never readable by others, not even while it is empty.
    os.chmod(tmp, 0o666 & ~_umask() if mode is None else mode)
    try:
        with disk_full_as_error(target):
            yield tmp
            _fsync(tmp)
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def disk_full_as_error(target: Path) -> Iterator[None]:
    """Turn a full disk while writing ``target``, however the writing library reports it, into one DiskFullError."""
    try:
        yield
    except Exception as exc:
        if is_disk_full(exc):
            raise DiskFullError(
                f"no space left on the device holding {target}: free some space there (or write to another disk)"
                " and run again; files written before are intact"
            ) from exc
        raise


@contextlib.contextmanager
def staged_files(out_dir: Path) -> Iterator[Path]:
    """Yield a staging folder in ``out_dir``; on success move each file in it to the same place in ``out_dir``. All
    files are written before the first is replaced, so an error leaves ``out_dir`` as it was, not half new."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _staging(out_dir, out_dir) as staging:
        yield staging
        for path in _fsync_all(staging):
            target = out_dir / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a staging folder beside ``target`` (not there yet), renamed to ``target`` on success: one rename
    publishes every file."""
    with _staging(target.parent, target) as staging:
        yield staging
        _fsync_all(staging)
        os.rename(staging, target)


def atomic_write_bytes(target: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``target`` atomically (``mode``: as for :func:`atomic_path`)."""
    with atomic_path(target, mode) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically (``mode``: as for :func:`atomic_path`)."""
    atomic_write_bytes(target, text.encode("utf-8"), mode)


@contextlib.contextmanager
def _staging(parent: Path, target: Path) -> Iterator[Path]:
    """A temporary folder in ``parent``, removed at the end; a full disk meanwhile is an error naming ``target``."""
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
    try:
        with disk_full_as_error(target):
            yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fsync(path: Path) -> None:
    # Before the rename, so a power cut cannot leave a renamed but empty file.
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_all(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        _fsync(path)
    return files


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
