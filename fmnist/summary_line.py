"""How a flow process (``python -m flows.run``) hands its JSON summary to the CLI that started it: the last line
of its output, behind a prefix that sets it apart from the logs.

Kept free of heavy imports: the CLI reads it before it starts the flow process, on the way to every run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SUMMARY_PREFIX = "FMNIST_SUMMARY "


def summary_line(summary: Mapping[str, Any]) -> str:
    """``summary`` as the line to print (values JSON cannot hold, such as paths, as strings)."""
    return SUMMARY_PREFIX + json.dumps(summary, default=str)


def parse_summary_line(line: str) -> dict[str, Any] | None:
    """The summary ``line`` carries, or None for any other line of output."""
    if not line.startswith(SUMMARY_PREFIX):
        return None
    return json.loads(line[len(SUMMARY_PREFIX) :])
