"""Atomic file writes: write to a temporary name in the same folder, then rename.

A reader (or a concurrent pipeline run) sees either the old file or the complete new one, never a partial one;
a crash mid-write leaves at most a stray ``.tmp-*`` file, which never carries a final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``, else delete it.

    ``mode``: the final file's permissions (default: those an ordinary ``open()`` would give).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{target.name}-", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600, so a private file is never readable by others, not even while it is empty.
    os.chmod(tmp, 0o666 & ~_umask() if mode is None else mode)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(target: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``target`` atomically (``mode``: as for :func:`atomic_path`)."""
    with atomic_path(target, mode) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically (``mode``: as for :func:`atomic_path`)."""
    atomic_write_bytes(target, text.encode("utf-8"), mode)


def _fsync(path: Path) -> None:
    # Flush file contents before the rename so a power cut cannot leave a renamed but empty file.
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
