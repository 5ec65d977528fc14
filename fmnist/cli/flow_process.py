"""Run a Prefect flow in a child process (``python -m flows.run``) and collect its JSON summary.

The library never imports Prefect; the CLI reaches the flows only through this child process.
"""

from __future__ import annotations

import json
import subprocess
import sys

from fmnist.errors import FmnistError
from fmnist.summary_line import parse_summary_line


def run_flow(flow: str, params: dict[str, object], echo: bool) -> dict:
    """Run flow ``flow`` (``pipeline`` or ``sweep``) with ``params``; stream its log to stderr unless not
    ``echo``; return the summary it prints last, or raise with the last error line it logged."""
    command = [sys.executable, "-m", "flows.run", "--flow", flow, "--params", json.dumps(params)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    summary = None
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        parsed = parse_summary_line(line)
        if parsed is not None:
            summary = parsed
            continue
        tail = [*tail[-40:], line.rstrip()]
        if echo:
            sys.stderr.write(line)
    code = process.wait()
    if code != 0 or summary is None:
        errors = [t for t in tail if "Error" in t or "error" in t]
        last = errors[-1] if errors else (tail[-1] if tail else "no output")
        raise FmnistError(f"the {flow} flow failed (exit {code}): {last.strip()}")
    return summary
