"""The stack's state file: what `up` writes, `down` and `status` read back, and a clear error when it is damaged."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from fmnist.errors import FmnistError
from fmnist.ops.processes import Started
from fmnist.ops.stack import STATE_FILE, StackState, down, read_state, status


def _state() -> StackState:
    return StackState("/s", "http://127.0.0.1:4200", "http://127.0.0.1:5000", {"prefect-server": Started(12, 1.7e9)})


def test_state_round_trips_through_its_file_format(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps(asdict(_state()), indent=1))  # as `up` writes it
    assert read_state(tmp_path) == _state()


def test_no_state_file_means_no_stack(tmp_path: Path) -> None:
    assert read_state(tmp_path) is None
    assert status(tmp_path) == {"running": False, "processes": {}}
    assert down(tmp_path) == []


@pytest.mark.parametrize(
    "text",
    [
        '{"prefect_url": "http://127.0.0.1:4200", "mlfl',  # cut short
        "[]",
        json.dumps({**asdict(_state()), "processes": {"prefect-server": {"pid": 123}}}),
        json.dumps({**asdict(_state()), "processes": {"prefect-server": {"pid": "x", "since_boot": 1.0}}}),
        json.dumps({**asdict(_state()), "processes": []}),
        json.dumps({**asdict(_state()), "surprise": 1}),
        "\udcff",
    ],
    ids=["truncated", "not-an-object", "no-start-time", "pid-not-a-number", "processes-not-a-map", "unknown-key",
         "not-utf8"],
)  # fmt: skip
def test_a_damaged_state_file_is_one_clear_line(tmp_path: Path, text: str) -> None:
    (tmp_path / STATE_FILE).write_bytes(text.encode("utf-8", "surrogateescape"))
    for command in (read_state, status, down):
        with pytest.raises(FmnistError) as caught:
            command(tmp_path)
        message = str(caught.value)
        assert "\n" not in message
        assert str(tmp_path / STATE_FILE) in message and "remove it" in message
    assert (tmp_path / STATE_FILE).exists()  # kept for the user to look at
