"""Run a Prefect flow in a child process (``python -m flows.run``) and collect its JSON summary.

The library never imports Prefect; the CLI reaches the flows only through this child process.
"""

from __future__ import annotations

import json
import re
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
        raise FmnistError(f"the {flow} flow failed (exit {code}): {failure_line(tail)}")
    return summary


# A raised exception as a traceback ends it: "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) ...".
_EXCEPTION_LINE = re.compile(r"^\s*[\w.]*(Error|Exception|Exit|Interrupt)\b.*:")


def failure_line(tail: list[str]) -> str:
    """The line of a failed flow's last output lines that says best what went wrong: the last exception line
    (libraries such as SQLAlchemy print more after it, a link to their docs), else the last line that mentions an
    error, else the last line."""
    for wanted in (_EXCEPTION_LINE.match, lambda t: "Error" in t or "error" in t):
        found = [t for t in tail if wanted(t)]
        if found:
            return found[-1].strip()
    return tail[-1].strip() if tail else "no output"
