"""Poll until a condition holds: for what a server records after the call that caused it has returned (Prefect
records task run states from the events its clients send)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    what: str,
    fetch: Callable[[], T],
    until: Callable[[T], object] = bool,
    timeout: float = 30.0,
    every: float = 0.5,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """The first result of ``fetch()`` that satisfies ``until``, fetched every ``every`` seconds. After ``timeout``
    seconds, an AssertionError that names ``what`` and shows the last result. Exceptions of the ``ignore`` types
    count as a miss (a server that briefly refuses)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        with contextlib.suppress(*ignore):
            last = fetch()
            if until(last):  # type: ignore[arg-type]
                return last  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last seen: {last!r}")
        time.sleep(every)
