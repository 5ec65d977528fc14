"""Processes the stack started, known by pid and start time, so that a recycled pid is never signalled."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

# Two readings of one process's start time differ by float rounding only; processes differ by a clock tick at least.
SAME_START_S = 0.001


@dataclass(frozen=True)
class Started:
    """A process this stack started: its pid and when it started, in seconds since boot."""

    pid: int
    since_boot: float


def spawn(command: Sequence[str], env: dict[str, str], log: Path, cwd: Path) -> Started:
    """Start ``command`` in its own session (it outlives this command and a Ctrl-C), output appended to ``log``."""
    with open(log, "ab") as out:
        process = psutil.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip
    return Started(process.pid, since_boot(process))


def since_boot(process: psutil.Process) -> float:
    """When ``process`` started, in seconds since boot: psutil's create time less the boot time, both on the wall
    clock, so that a clock change between ``up`` and ``down`` cannot make a process look like another."""
    return process.create_time() - psutil.boot_time()


def find(started: Started) -> psutil.Process | None:
    """The live process ``started`` names, or None: it exited, or its pid now belongs to another process."""
    if started.pid <= 0:  # 0 and negatives are no process this stack started
        return None
    try:
        process = psutil.Process(started.pid)
        if abs(since_boot(process) - started.since_boot) >= SAME_START_S:
            return None
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except psutil.NoSuchProcess:
        return None


def stop(process: psutil.Process, timeout: float) -> None:
    """SIGTERM ``process`` and its descendants; SIGKILL those still there after ``timeout`` seconds."""
    with contextlib.suppress(psutil.NoSuchProcess):
        tree = [process, *process.children(recursive=True)]  # before the parent goes and they are reparented
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.terminate()
        _, left = psutil.wait_procs(tree, timeout=timeout)  # also reaps those that are this process's children
        for member in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(left, timeout=timeout)
