from __future__ import annotations

import os
import signal

import pytest

from fmnist.isolation import ChildProcessError, run_isolated


def _square_with_progress(x: int, report: object) -> tuple[int, int]:
    for i in range(3):
        report(i)  # type: ignore[operator]
    return x * x, os.getpid()


def _fail(message: str) -> None:
    raise ValueError(message)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_result_and_progress_come_back_from_another_process() -> None:
    seen: list[int] = []
    result, pid = run_isolated(_square_with_progress, {"x": 7}, progress_kw="report", on_progress=seen.append)
    assert result == 49
    assert pid != os.getpid()
    assert seen == [0, 1, 2]


def test_exception_is_re_raised_with_its_type() -> None:
    with pytest.raises(ValueError, match="bad input"):
        run_isolated(_fail, {"message": "bad input"})


def test_killed_child_is_reported() -> None:
    with pytest.raises(ChildProcessError, match=r"exited with code -9 without a result"):
        run_isolated(_die, {})
