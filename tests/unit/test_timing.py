from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from fmnist.timing import Stopwatch


def test_laps_measure_each_stage_and_accumulate_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Stopwatch()
    ticks = iter([10.0, 12.0, 12.5, 14.0])
    monkeypatch.setattr(f"{Stopwatch.__module__}.time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    clock.lap("setup")  # from the real clock's start to 10.0: not checked
    assert clock.lap("a") == 2.0
    assert clock.lap("b") == 0.5
    assert clock.lap("a") == 3.5  # 2.0 + 1.5
    assert {k: v for k, v in clock.as_dict().items() if k != "setup"} == {
        "flow_started_at": clock.started_at, "a": 3.5, "b": 0.5,
    }  # fmt: skip


def test_start_is_epoch_seconds_to_line_up_with_other_processes() -> None:
    before = time.time()
    clock = Stopwatch()
    assert before <= clock.as_dict()["flow_started_at"] <= time.time()
