"""Which line of a failed flow process's output the CLI's one-line error quotes."""

from __future__ import annotations

from fmnist.cli.flow_process import failure_line

SQLITE_LOCKED = [
    "Traceback (most recent call last):",
    '  File "/venv/lib/python3.11/site-packages/sqlalchemy/engine/base.py", line 1967, in _exec_single_context',
    "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked",
    "[SQL: INSERT INTO metrics (key, value) VALUES (?, ?)]",
    "(Background on this error at: https://sqlalche.me/e/21/e3q8)",
]


def test_the_exception_line_beats_the_lines_a_library_prints_after_it() -> None:
    assert failure_line(SQLITE_LOCKED) == (
        "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked"
    )


def test_the_last_exception_wins_and_a_log_line_that_mentions_an_error_is_the_fallback() -> None:
    assert failure_line(["ValueError: first", "  during handling...", "fmnist.errors.FmnistError: second"]) == (
        "fmnist.errors.FmnistError: second"
    )
    log = ["12:00:01 | INFO | starting", "12:00:02 | ERROR | Flow run 'x' - error reading split", "bye"]
    assert failure_line(log) == "12:00:02 | ERROR | Flow run 'x' - error reading split"
    assert failure_line(["just", "the last line"]) == "the last line"
    assert failure_line([]) == "no output"
