"""The one line a flow process prints its summary on, and how the CLI finds it among the logs."""

from __future__ import annotations

from pathlib import Path

from fmnist.summary_line import parse_summary_line, summary_line
from tests.fresh_python import fresh_python


def test_a_summary_survives_the_line_and_log_lines_are_not_summaries() -> None:
    line = summary_line({"run_id": "abc", "checkpoint": Path("/tmp/x"), "acc": 0.9})
    assert parse_summary_line(line + "\n") == {"run_id": "abc", "checkpoint": "/tmp/x", "acc": 0.9}
    assert parse_summary_line("12:00:01 | INFO | Flow run 'x' - summary {}") is None
    assert parse_summary_line("") is None


def test_the_cli_starts_a_flow_process_and_reads_its_output_without_importing_mlflow() -> None:
    # Every `fmnist run` and `fmnist sweep` goes this way; importing MLflow first would delay each by a second.
    script = (
        "import sys\n"
        "from fmnist.cli.flow_process import run_flow\n"
        "from fmnist.errors import FmnistError\n"
        "try:\n"
        "    run_flow('no-such-flow', {}, echo=False)\n"
        "except FmnistError as exc:\n"
        "    print('invalid choice' in str(exc), 'mlflow' in sys.modules)\n"
    )
    assert fresh_python(script) == "True False"
