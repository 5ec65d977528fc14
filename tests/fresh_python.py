"""Run a Python script in a fresh interpreter: for what a test process, with everything it has imported, cannot
show (which modules an import pulls in)."""

from __future__ import annotations

import subprocess
import sys


def fresh_python(script: str) -> str:
    """The stripped standard output of ``script`` run by this interpreter in a new process; raises if it fails."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
