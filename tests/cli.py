"""Run ``fmnist`` as a user does and check the bad-input contract: exit 2, one ``error:`` line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

FMNIST = [sys.executable, "-m", "fmnist"]


def user_env(mlflow_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without a default data source, with a throw-away MLflow store."""
    env = {k: v for k, v in os.environ.items() if k not in {"FMNIST_DATA_SOURCE", "MLFLOW_TRACKING_URI"}}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{mlflow_dir / 'mlflow.db'}"
    return {**env, **extra}


def fmnist(*args: str, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m fmnist ARGS`` in ``cwd``."""
    return subprocess.run([*FMNIST, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


# Runs a command and writes its peak resident memory (KiB) to the file argv[1]. Linux counts, in a process's peak,
# the memory of the process it was forked from: measured from this small interpreter, not from the test process.
_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def fmnist_peak_memory(*args: str, cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], int]:
    """:func:`fmnist`, and the peak resident memory of its process in MiB."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        command = [sys.executable, "-c", _MEASURE, str(peak), *FMNIST, *args]
        result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env)
        return result, int(peak.read_text()) // 1024


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, stderr is exactly one ``error:`` line containing every needle, no traceback; return the line."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-2000:]
    line = lines[0]
    assert line.startswith("error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line
