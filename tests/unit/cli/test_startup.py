"""The ``fmnist`` command starts without the heavy libraries: its help and its argument checks answer at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("mlflow", "prefect", "tensorflow", "torch", "dask")

# Runs `fmnist ARGS` in this interpreter and prints, at exit, which heavy libraries it imported.
SCRIPT = f"""
import atexit, sys
atexit.register(lambda: print("imported:", [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr))
from fmnist.cli import main
main()
"""


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["sweep", "--seeds", "x"], ["ablate", "--help"]])
def test_help_and_bad_arguments_import_no_heavy_library(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 2), done.stderr[-2000:]
    assert done.stderr.splitlines()[-1] == "imported: []", done.stderr[-2000:]


@pytest.mark.parametrize(("args", "error"), [
    (["ingest", "--add", "nowhere"], "error: nowhere: no such file or folder"),
    (["ingest", "--add", "notes.txt"], "error: notes.txt: not a batch"),
])  # fmt: skip
def test_a_batch_path_that_cannot_be_one_is_refused_before_any_flow_starts(
    args: list[str], error: str, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("not images")
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(error) and lines[1] == "imported: []", done.stderr[-2000:]
