from __future__ import annotations

import math

import numpy as np
import pytest

from fmnist.errors import FmnistError
from fmnist.registry.promotion import DEFAULT_ALPHA, DEFAULT_MIN_GAIN, decide


def _scored(b: int, c: int, n: int = 1_000) -> tuple[np.ndarray, np.ndarray]:
    """(challenger, champion) correctness on ``n`` images: ``b`` only the champion gets right, ``c`` only the
    challenger, the first 800 both, the rest neither."""
    challenger, champion = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    challenger[:800] = champion[:800] = True
    champion[800 : 800 + b] = True
    challenger[800 + b : 800 + b + c] = True
    return challenger, champion


def test_defaults() -> None:
    assert (DEFAULT_ALPHA, DEFAULT_MIN_GAIN) == (0.05, 0.0)


def test_first_model_is_promoted_without_a_test() -> None:
    d = decide(np.array([True, False, True]), None)
    assert d.promote is True and d.test is None and d.delta is None
    assert d.reason.startswith("first model")


@pytest.mark.parametrize(
    ("b", "c", "p", "promote"),
    [
        # P(X >= 10 | n=12, 1/2) = (C(12,10) + C(12,11) + C(12,12)) / 2^12 = (66 + 12 + 1) / 4096
        (2, 10, 79 / 4096, True),
        (0, 5, 1 / 32, True),  # every discordant image goes the challenger's way: (1/2)^5
        (0, 4, 1 / 16, False),  # (1/2)^4 = 0.0625 is not below 0.05
        (5, 5, 638 / 1024, False),  # a tie: P(X >= 5 | n=10) = 1 - (1 + 10 + 45 + 120 + 210) / 1024
        (10, 2, 4083 / 4096, False),  # worse: P(X >= 2 | n=12) = 1 - (1 + 12) / 4096
        (0, 0, 1.0, False),  # the same predictions: no evidence either way
    ],
)
def test_one_sided_exact_mcnemar_by_hand(b: int, c: int, p: float, promote: bool) -> None:
    d = decide(*_scored(b, c))
    assert d.test is not None and (d.test.b, d.test.c) == (b, c)
    assert d.test.p_value == pytest.approx(p, rel=1e-9)
    assert d.promote is promote


def test_alpha_is_the_threshold() -> None:
    challenger, champion = _scored(2, 10)  # p = 0.0193
    assert decide(challenger, champion, alpha=0.02).promote
    assert not decide(challenger, champion, alpha=0.01).promote


def test_min_gain_is_inclusive_and_applies_after_the_test() -> None:
    challenger, champion = _scored(2, 10)  # gain 8 images of 1,000 = 0.008
    assert decide(challenger, champion, min_gain=0.008).promote  # exactly the minimum (0.008 is not exact in floats)
    short = decide(challenger, champion, min_gain=0.009)
    assert not short.promote and short.reason.startswith("gain below 0.009")


def test_delta_and_its_interval_are_challenger_minus_champion() -> None:
    d = decide(*_scored(2, 10))
    assert d.delta is not None
    assert d.delta.estimate == pytest.approx(0.008)
    assert d.delta.low <= 0.008 <= d.delta.high and d.delta.level == 0.95
    assert decide(*_scored(10, 2)).delta.estimate == pytest.approx(-0.008)  # type: ignore[union-attr]


def test_reason_and_rule_are_readable() -> None:
    d = decide(*_scored(2, 10))
    assert d.reason.startswith("better: +0.80 pt")
    assert "10 images only the challenger gets right vs 2 only the champion, p=0.0193 < 0.05" in d.reason
    assert "McNemar p < 0.05" in d.rule and "gain >= 0" in d.rule
    assert decide(*_scored(5, 5)).reason.startswith("not significantly better: +0.00 pt")


@pytest.mark.parametrize(
    ("alpha", "min_gain"), [(0.0, 0.0), (0.6, 0.0), (math.nan, 0.0), (0.05, -0.001), (0.05, 1.5), (0.05, math.nan)]
)
def test_bad_parameters_raise(alpha: float, min_gain: float) -> None:
    with pytest.raises(FmnistError):
        decide(*_scored(2, 10), alpha=alpha, min_gain=min_gain)
    with pytest.raises(FmnistError):
        decide(np.ones(3, dtype=bool), None, alpha=alpha, min_gain=min_gain)


def test_models_scored_on_different_images_raise() -> None:
    with pytest.raises(FmnistError, match="same items"):
        decide(np.ones(10, dtype=bool), np.ones(9, dtype=bool))
