"""How sure we are that one framework beats the other (bootstrap intervals, McNemar's test, seed spread), and how
sure an ablation is of each effect (Welch intervals, equivalence tests, Holm's adjustment, detectable size). All of
it works on per-image correctness vectors (``predictions == labels``) or per-seed accuracies, never on models.

The bootstrap resamples counts, not indices: accuracy depends only on how many correct items a resample holds, and
n draws with replacement from k correct of n give a Binomial(n, k/n) count (a paired difference: the four outcome
cells are Multinomial(n, shares)). That is the percentile bootstrap exactly, in O(n_boot) memory and time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fmnist.errors import FmnistError


@dataclass(frozen=True)
class Interval:
    """A point estimate and its two-sided ``level`` confidence interval (same units as the estimate)."""

    estimate: float
    low: float
    high: float
    level: float = 0.95


@dataclass(frozen=True)
class McNemarResult:
    """Discordant pairs and the exact p-value (two-sided unless the test asked for one side). ``b``: items A got
    right and B wrong; ``c``: items A got wrong and B right."""

    b: int
    c: int
    p_value: float


def _as_correct(correct: np.ndarray, name: str = "correct") -> np.ndarray:
    arr = np.asarray(correct)
    if arr.ndim != 1 or arr.size == 0:
        raise FmnistError(f"{name} must be a non-empty 1-D vector, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.integer) or not np.isin(arr, (0, 1)).all():
            raise FmnistError(f"{name} must hold booleans (prediction == label), got {arr.dtype}")
        arr = arr.astype(bool)
    return arr


def _as_pair(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_correct(correct_a, "correct_a"), _as_correct(correct_b, "correct_b")
    if a.shape != b.shape:
        raise FmnistError(f"paired vectors must score the same items, got lengths {a.size} and {b.size}")
    return a, b


def _check_bootstrap_args(n_boot: int, level: float) -> None:
    if n_boot < 1:
        raise FmnistError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise FmnistError(f"level must be between 0 and 1, got {level}")


def _percentile_interval(estimate: float, resampled: np.ndarray, level: float) -> Interval:
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    return Interval(estimate=estimate, low=float(low), high=float(high), level=level)


def bootstrap_accuracy_ci(correct: np.ndarray, n_boot: int = 10_000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile-bootstrap interval of the accuracy ``mean(correct)`` (fractions, 0..1)."""
    _check_bootstrap_args(n_boot, level)
    arr = _as_correct(correct)
    n, k = arr.size, int(arr.sum())
    counts = np.random.default_rng(seed).binomial(n, k / n, size=n_boot)
    return _percentile_interval(k / n, counts / n, level)


def bootstrap_difference_ci(
    correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int = 10_000, seed: int = 0, level: float = 0.95
) -> Interval:
    """Paired percentile-bootstrap interval of ``acc(b) - acc(a)``: each resample keeps images' pairs together."""
    _check_bootstrap_args(n_boot, level)
    a, b = _as_pair(correct_a, correct_b)
    n = a.size
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    # Only the discordant cells move the difference; the two concordant cells are pooled into one.
    shares = np.array([only_a, only_b, n - only_a - only_b]) / n
    cells = np.random.default_rng(seed).multinomial(n, shares, size=n_boot)
    return _percentile_interval((only_b - only_a) / n, (cells[:, 1] - cells[:, 0]) / n, level)


def mcnemar_exact(
    correct_a: np.ndarray, correct_b: np.ndarray, alternative: Literal["two-sided", "b_better"] = "two-sided"
) -> McNemarResult:
    """Exact McNemar test: a binomial test of the discordant pairs against 50/50; ``b_better`` is the one-sided
    test that B is better: p = P(X >= c) for X ~ Binomial(b + c, 1/2)."""
    from scipy import stats as sp  # imported here: a slow import that every flow start would pay

    a, b = _as_pair(correct_a, correct_b)
    n_b, n_c = int((a & ~b).sum()), int((~a & b).sum())
    if n_b + n_c == 0:  # no discordant pair: no evidence either way (binomtest rejects n=0)
        return McNemarResult(b=n_b, c=n_c, p_value=1.0)
    if alternative == "b_better":
        return McNemarResult(b=n_b, c=n_c, p_value=float(sp.binomtest(n_c, n_b + n_c, 0.5, "greater").pvalue))
    return McNemarResult(b=n_b, c=n_c, p_value=float(sp.binomtest(n_b, n_b + n_c, 0.5).pvalue))


def _as_values(values: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise FmnistError(f"{name} must be a non-empty list of finite numbers, got {list(values)!r}")
    return arr


def seed_summary(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of per-seed values; the std of one value is 0."""
    arr = _as_values(values, "values")
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std


def _two_samples(acc_a: Sequence[float], acc_b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_values(acc_a, "acc_a"), _as_values(acc_b, "acc_b")
    if a.size < 2 or b.size < 2:
        raise FmnistError(f"need at least 2 values on each side, got {a.size} and {b.size}")
    return a, b


def _welch(acc_a: Sequence[float], acc_b: Sequence[float]) -> tuple[float, float, float]:
    """``mean(b) - mean(a)`` of two independent samples, its standard error and Welch's degrees of freedom."""
    a, b = _two_samples(acc_a, acc_b)
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se > 0.0 else math.inf
    return float(b.mean() - a.mean()), se, df


def welch_test(acc_a: Sequence[float], acc_b: Sequence[float], level: float = 0.95) -> tuple[Interval, float]:
    """Welch's interval of ``mean(b) - mean(a)`` (independent samples, unequal variances) and its two-sided p."""
    if not 0.0 < level < 1.0:
        raise FmnistError(f"level must be between 0 and 1, got {level}")
    diff, se, df = _welch(acc_a, acc_b)
    if se == 0.0:  # no spread on either side: the difference is exact (t would be 0/0 or ±inf)
        return Interval(diff, diff, diff, level), 1.0 if diff == 0.0 else 0.0
    from scipy import stats as sp  # imported here, see mcnemar_exact

    half = float(sp.t.ppf(0.5 + level / 2.0, df)) * se
    return Interval(diff, diff - half, diff + half, level), float(2.0 * sp.t.sf(abs(diff) / se, df))


def tost_p_value(acc_a: Sequence[float], acc_b: Sequence[float], margin: float) -> float:
    """Two one-sided Welch tests that ``mean(b) - mean(a)`` lies inside ``(-margin, margin)``: below alpha, the
    two are equivalent within the margin."""
    if margin <= 0.0:
        raise FmnistError(f"the equivalence margin must be positive, got {margin}")
    diff, se, df = _welch(acc_a, acc_b)
    if se == 0.0:
        return 0.0 if abs(diff) < margin else 1.0
    from scipy import stats as sp  # imported here, see mcnemar_exact

    return float(max(sp.t.sf((diff + margin) / se, df), sp.t.cdf((diff - margin) / se, df)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment, in the given order: rejecting where an adjusted p is below alpha keeps the
    chance of any false rejection in the family below alpha."""
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(sorted(range(len(p_values)), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def min_detectable_difference(
    acc_a: Sequence[float], acc_b: Sequence[float], alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest true difference of means that a two-sided t-test at ``alpha`` detects with ``power``, given
    the pooled standard deviation of both samples: ``(t(1 - alpha/2) + t(power)) * sd * sqrt(1/n_a + 1/n_b)``."""
    a, b = _two_samples(acc_a, acc_b)
    df = a.size + b.size - 2
    from scipy import stats as sp  # imported here, see mcnemar_exact

    sd = math.sqrt(((a.size - 1) * float(a.var(ddof=1)) + (b.size - 1) * float(b.var(ddof=1))) / df)
    t = float(sp.t.ppf(1.0 - alpha / 2.0, df) + sp.t.ppf(power, df))
    return t * sd * math.sqrt(1.0 / a.size + 1.0 / b.size)


def _format_p(p: float) -> str:
    if p < 0.001:
        return "p<0.001"
    return f"p={p:#.2g}"  # '#' keeps the trailing zero: 0.50, 1.0


def _pt(fraction: float, signed: bool = False) -> str:
    value = round(fraction * 100.0, 1) + 0.0  # + 0.0 turns a rounded -0.0 into 0.0
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def verdict(name_a: str, name_b: str, diff: Interval, p_value: float, alpha: float = 0.05) -> str:
    """One line: ``"B vs A: +0.3 pt, 95% CI [-0.2, 0.8], p=0.21: no significant difference"``; ``diff`` is
    acc(b) - acc(a) as a fraction, shown in points."""
    if math.isnan(p_value) or not 0.0 <= p_value <= 1.0:
        raise FmnistError(f"p_value must be in [0, 1], got {p_value}")
    if p_value < alpha and diff.estimate > 0:
        outcome = f"{name_b} better"
    elif p_value < alpha and diff.estimate < 0:
        outcome = f"{name_a} better"
    else:
        outcome = "no significant difference"
    ci = f"{diff.level * 100:g}% CI [{_pt(diff.low)}, {_pt(diff.high)}]"
    return f"{name_b} vs {name_a}: {_pt(diff.estimate, signed=True)} pt, {ci}, {_format_p(p_value)}: {outcome}"


@dataclass(frozen=True)
class FrameworkComparison:
    """Two frameworks compared over seeds (accuracies as fractions): ``diff`` is mean(b) - mean(a) with its Welch
    interval, ``p_value`` its two-sided test, ``p_tost`` the equivalence test at ``margin``, ``detectable`` the
    smallest true difference these seeds detect with 80% power, and the one-line verdict."""

    diff: Interval
    p_value: float
    p_tost: float
    margin: float
    detectable: float
    verdict: str


def compare_frameworks(
    name_a: str, name_b: str, acc_a: Sequence[float], acc_b: Sequence[float], margin: float, alpha: float = 0.05
) -> FrameworkComparison:
    """What several seeds per framework can say about the frameworks themselves, not about two trained models:
    better (Welch p < alpha), equivalent within ±``margin`` (TOST p < alpha) or inconclusive, with the smallest
    difference the number of seeds could have detected."""
    diff, p = welch_test(acc_a, acc_b)
    p_tost = tost_p_value(acc_a, acc_b, margin)
    detectable = min_detectable_difference(acc_a, acc_b, alpha)
    if p < alpha:
        outcome = f"{name_b if diff.estimate > 0 else name_a} better"
    elif p_tost < alpha:
        outcome = f"equivalent within ±{_pt(margin)} pt"
    else:
        outcome = f"inconclusive: neither a difference nor equivalence within ±{_pt(margin)} pt is shown"
    seeds = f"{len(acc_a)} and {len(acc_b)} seeds" if len(acc_a) != len(acc_b) else f"{len(acc_a)} seeds each"
    line = (
        f"{name_b} vs {name_a} over {seeds}: {_pt(diff.estimate, signed=True)} pt, {diff.level * 100:g}% CI "
        f"[{_pt(diff.low)}, {_pt(diff.high)}], {_format_p(p)}; TOST ±{_pt(margin)} pt {_format_p(p_tost)}: {outcome}"
        f" (these seeds detect a difference of {_pt(detectable)} pt or more)"
    )
    return FrameworkComparison(diff, p, p_tost, margin, detectable, line)
