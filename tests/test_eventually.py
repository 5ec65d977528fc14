"""The polling helper that the tests against servers wait with."""

from __future__ import annotations

import pytest

from tests.eventually import eventually


def test_returns_the_first_result_that_satisfies_the_condition_and_stops_fetching() -> None:
    results = iter([0, None, [], 7, 8])
    assert eventually("a value", lambda: next(results), every=0) == 7
    assert next(results) == 8


def test_times_out_naming_what_it_waited_for_and_the_last_result() -> None:
    with pytest.raises(AssertionError, match=r"waiting for every state; last seen: \{'train': None\}"):
        eventually("every state", lambda: {"train": None}, lambda s: all(s.values()), timeout=0.05, every=0.01)


def test_ignored_errors_count_as_a_miss_and_others_raise() -> None:
    attempts = iter([ConnectionError("refused"), "up"])

    def fetch() -> str:
        value = next(attempts)
        if isinstance(value, Exception):
            raise value
        return value

    assert eventually("the server", fetch, every=0, ignore=(ConnectionError,)) == "up"
    with pytest.raises(KeyError):
        eventually("a key", lambda: {}["missing"], every=0, ignore=(ConnectionError,))
