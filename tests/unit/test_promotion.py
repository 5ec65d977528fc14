from __future__ import annotations

import math

import pytest

from fmnist.errors import FmnistError
from fmnist.registry.promotion import DEFAULT_MARGIN, decide


def test_default_margin_is_two_tenths_of_a_point() -> None:
    assert DEFAULT_MARGIN == 0.002


def test_first_model_is_promoted() -> None:
    d = decide(0.61, None)
    assert d.promote is True
    assert d.delta is None
    assert "first model" in d.reason


@pytest.mark.parametrize(
    ("challenger", "champion", "promote"),
    [
        (0.9050, 0.9000, True),  # clearly better
        (0.9020, 0.9000, True),  # exactly at the margin (0.902 - 0.9 is not exactly 0.002 in floats)
        (0.9019, 0.9000, False),  # one image short of the margin
        (0.9000, 0.9000, False),  # a tie keeps the champion
        (0.8900, 0.9000, False),  # worse
    ],
)
def test_margin_boundaries(challenger: float, champion: float, promote: bool) -> None:
    d = decide(challenger, champion)
    assert d.promote is promote
    assert d.delta == pytest.approx(challenger - champion)


def test_exact_margin_on_every_ten_thousandth_grid_point() -> None:
    # Accuracies on 10,000 images are k/10,000; a gain of exactly 20 images must always promote, 19 never.
    for k in range(0, 9_981, 7):
        assert decide((k + 20) / 10_000, k / 10_000).promote, k
        assert not decide((k + 19) / 10_000, k / 10_000).promote, k


def test_zero_margin_promotes_a_tie_and_custom_margin_is_used() -> None:
    assert decide(0.9, 0.9, margin=0.0).promote is True
    assert decide(0.905, 0.9, margin=0.01).promote is False


def test_rule_and_reason_are_readable() -> None:
    d = decide(0.9019, 0.9000)
    assert d.rule == "challenger official_test/acc >= champion + 0.0020"
    assert "0.9019" in d.reason and "0.9000" in d.reason and "+0.0019" in d.reason
    assert decide(0.9, 0.8, metric="val/acc").rule.startswith("challenger val/acc >=")


@pytest.mark.parametrize(
    ("challenger", "champion", "margin"),
    [
        (0.9, 0.9, -0.001),
        (0.9, 0.9, math.nan),
        (math.nan, 0.9, 0.002),
        (0.9, math.nan, 0.002),
        (90.1, 0.9, 0.002),  # percent passed for a fraction
        (math.nan, None, 0.002),
    ],
)
def test_invalid_inputs_raise(challenger: float, champion: float | None, margin: float) -> None:
    with pytest.raises(FmnistError):
        decide(challenger, champion, margin)
