"""``fmnist score-batch`` refuses bad input in one line, before Prefect or MLflow start, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, fmnist, user_env
from tests.factories import snapshot


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["missing"], "missing: no such file or folder"),
        (["images", "--threshold", "1.5"], "confidence threshold 1.5: give a probability between 0 and 1"),
        (["images", "--out", "taken"], "taken: is a file, not a folder"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "taken").write_text("keep me")
    before = snapshot(tmp_path)
    result = fmnist("score-batch", *args, cwd=tmp_path, env=user_env(tmp_path / "mlruns"))
    assert_one_line_error(result, needle)
    assert snapshot(tmp_path) == before
