"""Run a function in a fresh child process and relay its progress messages back.

TensorFlow and PyTorch do not share a process well (each sizes its own thread pools at start-up, and their
allocators compete), and a training pinned to one thread should own one core. So each training runs in a
``spawn``-ed child: a clean interpreter that imports only what the function needs. The child's
``on_epoch_end`` messages come back through a queue, so the parent can log them as they happen.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import traceback
from collections.abc import Callable
from typing import Any

_DONE = "__done__"
_FAILED = "__failed__"
_MESSAGE = "__message__"


def _child(fn: Callable[..., Any], kwargs: dict[str, Any], channel: Any, progress_kw: str | None) -> None:
    try:
        if progress_kw is not None:
            kwargs = {**kwargs, progress_kw: lambda message: channel.put((_MESSAGE, message))}
        channel.put((_DONE, fn(**kwargs)))
    except BaseException as exc:  # report every failure; the parent re-raises it
        channel.put((_FAILED, (exc, traceback.format_exc())))


class ChildProcessError(RuntimeError):
    """The child process died without reporting a result (killed, out of memory, crashed)."""


def run_isolated(
    fn: Callable[..., Any],
    kwargs: dict[str, Any],
    *,
    progress_kw: str | None = None,
    on_progress: Callable[[Any], None] | None = None,
    poll_seconds: float = 0.5,
) -> Any:
    """Call ``fn(**kwargs)`` in a spawned process and return its result (or raise its exception).

    If ``progress_kw`` is given, the child passes a callback under that keyword argument; every value it is
    called with reaches ``on_progress`` in this process. ``fn``, its arguments and result must be picklable.
    """
    ctx = mp.get_context("spawn")
    channel = ctx.Queue()
    process = ctx.Process(target=_child, args=(fn, kwargs, channel, progress_kw), daemon=False)
    process.start()
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=poll_seconds)
            except queue.Empty:
                if not process.is_alive():
                    # One last look: the child may have put its result just before exiting.
                    try:
                        kind, payload = channel.get(timeout=poll_seconds)
                    except queue.Empty:
                        raise ChildProcessError(
                            f"{getattr(fn, '__name__', fn)} process exited with code {process.exitcode}"
                            " without a result (killed or crashed); rerun to resume from its last checkpoint"
                        ) from None
                else:
                    continue
            if kind == _MESSAGE:
                if on_progress is not None:
                    on_progress(payload)
                continue
            if kind == _FAILED:
                exc, trace = payload
                raise exc from ChildProcessError(f"in the child process:\n{trace}")
            return payload
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join()
