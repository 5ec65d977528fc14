"""File checksums, streamed so large files are never read into memory twice."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """Return the hex digest of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def bytes_digest(data: bytes, algorithm: str = "sha256") -> str:
    """Return the hex digest of in-memory bytes."""
    return hashlib.new(algorithm, data).hexdigest()
