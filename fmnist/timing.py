"""A stopwatch for stage timings (wall clock, seconds)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Stopwatch:
    """Records the time since the previous lap under each lap's name."""

    started_at: float = field(default_factory=time.time)  # epoch seconds, to line up with other processes
    _last: float = field(default_factory=time.perf_counter)
    laps: dict[str, float] = field(default_factory=dict)

    def lap(self, name: str) -> float:
        """Close the current stage as ``name``; return its seconds."""
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now
        return self.laps[name]

    def as_dict(self) -> dict[str, float]:
        return {"flow_started_at": self.started_at, **self.laps}
