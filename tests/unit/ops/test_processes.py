"""A process the stack started is known by its pid and start time; only such a process is ever signalled."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil

from fmnist.ops.processes import Started, find, since_boot, spawn, stop
from tests.eventually import eventually


def test_find_knows_a_live_process_by_pid_and_start_time() -> None:
    me = psutil.Process()
    assert find(Started(me.pid, since_boot(me))) == me
    assert find(Started(me.pid, since_boot(psutil.Process(me.pid)))) == me  # read afresh, as `down` does


def test_find_refuses_a_pid_that_another_process_reuses() -> None:
    me = psutil.Process()
    assert find(Started(me.pid, since_boot(me) - 0.01)) is None  # started one clock tick earlier
    assert find(Started(me.pid, since_boot(me) + 3600)) is None


def test_find_refuses_pids_that_address_process_groups() -> None:
    assert find(Started(0, since_boot(psutil.Process()))) is None
    assert find(Started(-1, since_boot(psutil.Process()))) is None


def test_a_process_that_exited_is_gone_reaped_or_not(tmp_path: Path) -> None:
    exited = spawn([sys.executable, "-c", "pass"], {}, tmp_path / "exited.log", tmp_path)
    process = psutil.Process(exited.pid)
    eventually("the child to exit", process.status, lambda s: s == psutil.STATUS_ZOMBIE, every=0.05)
    assert find(exited) is None  # exited, not yet reaped: the pid still exists
    process.wait(timeout=10)
    assert find(exited) is None


def test_stop_ends_the_process_and_its_children(tmp_path: Path) -> None:
    shell = spawn(["sh", "-c", "sleep 300 & wait"], {}, tmp_path / "sh.log", tmp_path)
    process = find(shell)
    assert process is not None
    (child,) = eventually("the shell's child", process.children, every=0.05)
    stop(process, timeout=10)
    assert find(shell) is None and not child.is_running()
    assert (tmp_path / "sh.log").exists()


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    code = f"{ignore}; print('ready', flush=True); time.sleep(300)"
    started = spawn([sys.executable, "-c", code], {}, tmp_path / "stubborn.log", tmp_path)
    eventually("the handler to be set", (tmp_path / "stubborn.log").read_text, lambda t: "ready" in t, every=0.05)
    stop(find(started), timeout=0.5)
    assert find(started) is None
