"""When a newly trained model replaces the registered champion: a pure rule, no registry calls.

The rule: the first model is promoted; after that a challenger is promoted only if its accuracy on the
official test set is at least the champion's plus `DEFAULT_MARGIN`. Both numbers must come from the same
10,000 official test images, so the comparison itself carries no measurement noise: re-scoring a fixed
model on a fixed test set gives the same number every time.

Why a margin of 0.002 (0.2 percentage points, 20 of the 10,000 images): the noise is in training, not in
scoring. Retraining the same recipe with another seed moves official-test accuracy by a few tenths of a
point for a network this small (multi-seed mode measures it: `fmnist.evaluate.stats.seed_summary`), so a smaller
gain is not distinguishable from a lucky seed, and promoting on it would churn the champion for nothing.
The margin is a churn guard, not a significance test: 0.2 pt is still inside the paired bootstrap interval
of a typical difference (about ±0.4 pt; see `fmnist.evaluate.stats.bootstrap_difference_ci`), which the comparison
report shows alongside McNemar's p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fmnist.errors import FmnistError

DEFAULT_MARGIN = 0.002
DEFAULT_METRIC = "official_test/acc"
# Accuracies are multiples of 1/10,000; a tolerance far below that keeps "exactly at the margin" from
# failing on float rounding (0.902 - 0.9 is 0.0020000000000000018).
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Decision:
    """Whether to promote, why (one sentence), challenger minus champion (None for the first model), the rule."""

    promote: bool
    reason: str
    delta: float | None
    rule: str


def _check_accuracy(name: str, value: float) -> None:
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise FmnistError(f"{name} accuracy must be a fraction in [0, 1], got {value}")


def decide(
    challenger_acc: float,
    champion_acc: float | None,
    margin: float = DEFAULT_MARGIN,
    *,
    metric: str = DEFAULT_METRIC,
) -> Decision:
    """Apply the promotion rule to two accuracies measured by ``metric`` on the same data."""
    if math.isnan(margin) or margin < 0:
        raise FmnistError(f"promotion margin must be >= 0, got {margin}")
    _check_accuracy("challenger", challenger_acc)
    rule = f"challenger {metric} >= champion + {margin:.4f}"
    if champion_acc is None:
        return Decision(True, f"first model: no champion to beat (challenger {challenger_acc:.4f})", None, rule)
    _check_accuracy("champion", champion_acc)
    delta = challenger_acc - champion_acc
    comparison = f"challenger {challenger_acc:.4f} vs champion {champion_acc:.4f} ({delta:+.4f})"
    if delta >= margin - _TOLERANCE:
        return Decision(True, f"{comparison} meets the margin {margin:.4f}", delta, rule)
    return Decision(False, f"{comparison} is short of the margin {margin:.4f}", delta, rule)
