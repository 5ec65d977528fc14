"""Calls run in the background, in the order they were submitted, on one thread of their own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class OrderedSender:
    """Runs each submitted call on one background thread, one after another; :meth:`flush` waits for them all.

    The thread starts with the first call, so a sender that never sends costs nothing.
    """

    def __init__(self, thread_name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._pending: list[Future[Any]] = []
        self._lock = threading.Lock()

    def submit(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``call(*args, **kwargs)`` after every call queued before it."""
        with self._lock:
            self._pending.append(self._executor.submit(call, *args, **kwargs))

    def flush(self) -> None:
        """Wait until every queued call has run; raise the first failure (once: nothing stays queued)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()
