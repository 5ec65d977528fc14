"""A flow that fails while running exits 1 with one ``error:`` line (docs/usage.md, "Exit codes"). End to end:
``fmnist run`` starts Prefect's API for its flow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli import user_env
from tests.unit.cli.test_exit_codes import one_error_line

ROOT = Path(__file__).resolve().parents[3]


class CrashingPipeline:
    """Stands in for the pipeline flow, whose training raised: what calling the flow then raises."""

    def with_options(self, **_: object) -> CrashingPipeline:
        return self

    def __call__(self, **_: object) -> None:
        raise RuntimeError("training crashed: loss is NaN")


CRASHING_PIPELINE = CrashingPipeline()


def test_a_training_that_crashes_inside_run_exits_1(tmp_path: Path) -> None:
    script = (
        "from fmnist.cli import flows\n"
        "flows.FLOWS['pipeline'] = ('tests.e2e.reliability.test_run_exit_code', 'CRASHING_PIPELINE')\n"
        "from fmnist.cli import main\n"
        "main()\n"
    )
    env = user_env(tmp_path, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-c", script, "run", "--json", "--work-dir", "work"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "the pipeline flow failed: RuntimeError: training crashed: loss is NaN" in one_error_line(result)
