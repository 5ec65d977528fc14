from __future__ import annotations

import time

from fmnist.timing import Stopwatch


def test_laps_measure_each_stage_and_accumulate_repeats() -> None:
    clock = Stopwatch()
    time.sleep(0.02)
    assert clock.lap("a") >= 0.02
    clock.lap("b")
    time.sleep(0.01)
    total = clock.lap("a")
    assert total >= 0.03
    assert set(clock.as_dict()) == {"flow_started_at", "a", "b"}
    assert abs(clock.as_dict()["flow_started_at"] - time.time()) < 5
