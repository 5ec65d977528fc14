"""Errors a user can act on.

Every problem with input data, options or the environment surfaces as a :class:`FmnistError` whose message
names the thing at fault (file, row, byte offset, option) and what to do. The CLI prints that one line and
exits non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class FmnistError(Exception):
    """A problem the user can fix; the message says what and how."""


class DataError(FmnistError):
    """Input data is missing, corrupt or malformed."""


class SourceError(DataError):
    """A data source cannot be found or reached."""
