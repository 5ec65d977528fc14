"""Errors a user can act on; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import errno

from fmnist.redaction import redact


class FmnistError(Exception):
    """One line naming what is at fault and the fix; the CLI prints it and exits with ``exit_code`` (2 bad usage or
    input, 1 failed while running, 3 server did not answer). URL passwords are hidden: errors reach logs."""

    exit_code = 2

    def __init__(self, message: str = "") -> None:
        super().__init__(redact(str(message)))


class DataError(FmnistError):
    """Input data is missing, corrupt or malformed."""


class SourceError(DataError):
    """A data source cannot be found or reached."""


class RunFailedError(FmnistError):
    """A run that started failed while running (a training crashed, a task gave up)."""

    exit_code = 1


class ServerUnreachableError(FmnistError):
    """A server the command needs (the MLflow tracking server, the Prefect API) did not answer."""

    exit_code = 3


class ArtifactStoreError(RunFailedError):
    """The artifact store (behind the MLflow server, or reached directly) failed to store or return a file."""


class DiskFullError(RunFailedError):
    """A file could not be written because its file system is full."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` reports a full file system or quota: ``OSError`` ENOSPC/EDQUOT, or a library's own error
    (PyTorch and HDF5 report it in their message only)."""
    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "errno = 28" in text or "Disk quota exceeded" in text
