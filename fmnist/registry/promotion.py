"""When a newly trained model replaces the registered champion: a pure rule on per-image correctness.

A challenger must beat the champion by a one-sided exact McNemar test (p < ``alpha``) and gain ``min_gain``
(docs/design.md, 'Promotion'). Not a fixed margin: another seed moves a same-recipe retrain by a few tenths of a
point, so a margin below that promotes such retrains and one above it stops real improvements (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fmnist.errors import FmnistError
from fmnist.evaluate.stats import Interval, McNemarResult, bootstrap_difference_ci, mcnemar_exact

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_GAIN = 0.0
# Far below the 1/n step of accuracy gains: "exactly the minimum gain" must not fail on float rounding.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Decision:
    """Whether to promote, why (one sentence), the rule and the paired evidence (None for the first model).
    ``test.b``/``test.c``: images only the champion/challenger gets right, ``test.p_value`` one-sided; ``delta``:
    challenger minus champion, with its paired-bootstrap 95 % interval."""

    promote: bool
    reason: str
    rule: str
    test: McNemarResult | None = None
    delta: Interval | None = None


def rule_text(alpha: float = DEFAULT_ALPHA, min_gain: float = DEFAULT_MIN_GAIN) -> str:
    """The rule in one line, after checking its parameters."""
    if not 0.0 < alpha <= 0.5:  # NaN fails every comparison, so it is refused too
        raise FmnistError(f"promotion alpha must be in (0, 0.5], got {alpha}")
    if not 0.0 <= min_gain <= 1.0:
        raise FmnistError(f"promotion min_gain must be a fraction in [0, 1], got {min_gain}")
    return (
        f"challenger better than champion on the same images: one-sided exact McNemar p < {alpha:g}"
        f" and accuracy gain >= {min_gain:g}"
    )


def decide(
    challenger: np.ndarray,
    champion: np.ndarray | None,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_gain: float = DEFAULT_MIN_GAIN,
) -> Decision:
    """Apply the rule to per-image correctness (``prediction == label``) of both models on the same images."""
    rule = rule_text(alpha, min_gain)
    if champion is None:
        return Decision(True, "first model: no champion to compare with", rule)
    test = mcnemar_exact(champion, challenger, alternative="b_better")
    delta = bootstrap_difference_ci(champion, challenger)
    evidence = (
        f"{100 * delta.estimate:+.2f} pt (95% CI {100 * delta.low:+.2f} to {100 * delta.high:+.2f}),"
        f" {test.c} images only the challenger gets right vs {test.b} only the champion, p={test.p_value:.3g}"
    )
    if test.p_value >= alpha:
        return Decision(False, f"not significantly better: {evidence} >= {alpha:g}", rule, test, delta)
    if delta.estimate < min_gain - _TOLERANCE:
        return Decision(False, f"gain below {min_gain:g}: {evidence}", rule, test, delta)
    return Decision(True, f"better: {evidence} < {alpha:g}", rule, test, delta)
