from __future__ import annotations

import math

import numpy as np
import pytest

from fmnist.errors import FmnistError
from fmnist.evaluate.stats import (
    Interval,
    bootstrap_accuracy_ci,
    bootstrap_difference_ci,
    compare_frameworks,
    holm,
    mcnemar_exact,
    min_detectable_difference,
    seed_summary,
    tost_p_value,
    verdict,
    welch_test,
)


def _vector(n: int, n_correct: int) -> np.ndarray:
    v = np.zeros(n, dtype=bool)
    v[:n_correct] = True
    return v


def _paired(n: int, both: int, only_a: int, only_b: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    a[:both] = b[:both] = True
    a[both : both + only_a] = True
    b[both + only_a : both + only_a + only_b] = True
    return a, b


def test_all_correct_gives_degenerate_interval_at_one() -> None:
    ci = bootstrap_accuracy_ci(np.ones(500, dtype=bool))
    assert (ci.estimate, ci.low, ci.high) == (1.0, 1.0, 1.0)


def test_ci_of_90_percent_on_10k_is_about_059_points_each_side() -> None:
    ci = bootstrap_accuracy_ci(_vector(10_000, 9_000))
    assert ci.estimate == 0.9
    # Normal approximation: 1.96 * sqrt(.9 * .1 / 10_000) = 0.00588.
    assert ci.high - ci.estimate == pytest.approx(0.00588, abs=0.0003)
    assert ci.estimate - ci.low == pytest.approx(0.00588, abs=0.0003)


def test_bootstrap_is_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    v = _vector(1_000, 870)
    assert bootstrap_accuracy_ci(v, seed=3) == bootstrap_accuracy_ci(v, seed=3)
    assert bootstrap_accuracy_ci(v, seed=3) != bootstrap_accuracy_ci(v, seed=4)


def test_wider_level_gives_wider_interval() -> None:
    v = _vector(2_000, 1_700)
    narrow, wide = bootstrap_accuracy_ci(v, level=0.8), bootstrap_accuracy_ci(v, level=0.99)
    assert wide.low < narrow.low < narrow.high < wide.high
    assert wide.level == 0.99


def test_count_bootstrap_matches_resampling_indices() -> None:
    # The implementation draws counts; the textbook version draws indices. Their quantiles must agree.
    rng = np.random.default_rng(1)
    a = rng.random(400) < 0.8
    b = np.where(rng.random(400) < 0.1, ~a, a)
    idx = rng.integers(0, 400, size=(20_000, 400))
    naive_acc = np.quantile(a[idx].mean(axis=1), [0.025, 0.975])
    naive_diff = np.quantile(b[idx].mean(axis=1) - a[idx].mean(axis=1), [0.025, 0.975])
    acc = bootstrap_accuracy_ci(a, n_boot=20_000)
    diff = bootstrap_difference_ci(a, b, n_boot=20_000)
    assert (acc.low, acc.high) == pytest.approx(tuple(naive_acc), abs=0.004)
    assert (diff.low, diff.high) == pytest.approx(tuple(naive_diff), abs=0.004)


def test_paired_difference_estimate_sign_and_interval() -> None:
    a, b = _paired(10_000, both=8_500, only_a=200, only_b=300)
    ci = bootstrap_difference_ci(a, b)
    assert ci.estimate == pytest.approx(0.01)  # (300 - 200) / 10_000, b minus a
    # SE of a paired difference = sqrt(disc - diff^2) / sqrt(n) = sqrt(.05 - .0001) / 100 ≈ 0.00223.
    assert ci.low == pytest.approx(0.01 - 1.96 * 0.00223, abs=0.0004)
    assert ci.high == pytest.approx(0.01 + 1.96 * 0.00223, abs=0.0004)
    swapped = bootstrap_difference_ci(b, a)
    assert swapped.estimate == pytest.approx(-0.01)


def test_pairing_makes_identical_models_certain() -> None:
    # Unpaired, two 85% models would overlap widely; paired, the same predictions differ by exactly 0.
    a = _vector(1_000, 850)
    assert bootstrap_difference_ci(a, a.copy()) == Interval(0.0, 0.0, 0.0, 0.95)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_boot": 0}, "n_boot"), ({"level": 1.0}, "level"), ({"level": 0.0}, "level")],
)
def test_bad_bootstrap_arguments(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(FmnistError, match=match):
        bootstrap_accuracy_ci(np.ones(10, dtype=bool), **kwargs)


def test_correctness_vectors_are_validated() -> None:
    with pytest.raises(FmnistError, match="non-empty"):
        bootstrap_accuracy_ci(np.array([], dtype=bool))
    with pytest.raises(FmnistError, match="booleans"):
        bootstrap_accuracy_ci(np.array([0.9, 0.1]))
    with pytest.raises(FmnistError, match="same items"):
        mcnemar_exact(np.ones(3, dtype=bool), np.ones(4, dtype=bool))
    # 0/1 integers are accepted as booleans.
    assert bootstrap_accuracy_ci(np.array([1, 1, 1])).estimate == 1.0


def test_mcnemar_known_answer() -> None:
    a, b = _paired(100, both=80, only_a=10, only_b=2)
    result = mcnemar_exact(a, b)
    assert (result.b, result.c) == (10, 2)
    # 2 * P(X <= 2 | n=12, p=.5) = 2 * (1 + 12 + 66) / 4096.
    assert result.p_value == pytest.approx(2 * 79 / 4096)
    assert result.p_value == pytest.approx(0.0386, abs=1e-4)


def test_one_sided_mcnemar_asks_whether_b_is_better() -> None:
    a, b = _paired(100, both=80, only_a=2, only_b=10)
    # P(X >= 10 | n=12, p=.5) = (66 + 12 + 1) / 4096: half the two-sided p of the same counts.
    assert mcnemar_exact(a, b, alternative="b_better").p_value == pytest.approx(79 / 4096)
    # The other way round: P(X >= 2 | n=12) = 1 - (1 + 12) / 4096.
    assert mcnemar_exact(b, a, alternative="b_better").p_value == pytest.approx(4083 / 4096)


def test_mcnemar_is_symmetric_and_ignores_concordant_pairs() -> None:
    a, b = _paired(100, both=80, only_a=10, only_b=2)
    a2, b2 = _paired(5_000, both=100, only_a=10, only_b=2)
    assert mcnemar_exact(b, a).p_value == pytest.approx(mcnemar_exact(a, b).p_value)
    assert mcnemar_exact(a2, b2).p_value == pytest.approx(mcnemar_exact(a, b).p_value)


def test_mcnemar_without_discordant_pairs_has_p_one() -> None:
    a = _vector(50, 40)
    assert mcnemar_exact(a, a.copy()) == mcnemar_exact(a, a)
    assert mcnemar_exact(a, a.copy()).p_value == 1.0
    assert mcnemar_exact(a, a.copy()).b == 0


def test_seed_summary() -> None:
    assert seed_summary([0.89, 0.90, 0.91]) == pytest.approx((0.90, 0.01))
    assert seed_summary([0.9]) == (0.9, 0.0)
    with pytest.raises(FmnistError):
        seed_summary([])
    with pytest.raises(FmnistError):
        seed_summary([0.9, math.nan])


def test_frameworks_better_by_welch_worked_by_hand() -> None:
    # Means .882 and .892, each sd .002 over 3 seeds: se = sqrt(2 * .002**2 / 3) = .0016330, Welch df = 4,
    # t = .01 / .0016330 = 6.1237, two-sided p = 0.0036; t(.975, 4) = 2.7764 gives the interval
    # .01 ± .004534; TOST at ±.005: max(sf((.01 + .005) / se), cdf((.01 - .005) / se)) = cdf(3.0619) = 0.9812.
    result = compare_frameworks("Keras", "PyTorch", [0.880, 0.882, 0.884], [0.890, 0.892, 0.894], 0.005)
    assert (result.diff.low, result.diff.estimate, result.diff.high) == pytest.approx(
        (0.005466, 0.01, 0.014534), abs=1e-6
    )
    assert result.p_value == pytest.approx(0.0036022, abs=1e-6)
    assert result.p_tost == pytest.approx(0.98120, abs=1e-5)
    assert "PyTorch better" in result.verdict and "over 3 seeds each" in result.verdict


def test_frameworks_equivalent_within_the_margin_worked_by_hand() -> None:
    # Difference .001, se .0016330, df 4: TOST = max(sf(3.6742), cdf(-2.4495)) = 0.035242 < 0.05.
    result = compare_frameworks("Keras", "PyTorch", [0.880, 0.882, 0.884], [0.881, 0.883, 0.885], 0.005)
    assert result.p_tost == pytest.approx(0.035242, abs=1e-6)
    assert result.p_value == pytest.approx(0.57339, abs=1e-5)
    assert "equivalent within ±0.5 pt" in result.verdict
    # The control: a tighter margin makes the same seeds inconclusive.
    assert (
        "inconclusive"
        in compare_frameworks("Keras", "PyTorch", [0.880, 0.882, 0.884], [0.881, 0.883, 0.885], 0.002).verdict
    )


def test_two_seeds_detect_only_large_differences() -> None:
    # Pooled sd .014142, df 2: (t(.975, 2) + t(.8, 2)) * sd * sqrt(1/2 + 1/2) = (4.3027 + 1.0607) * .014142 = .075849.
    result = compare_frameworks("Keras", "PyTorch", [0.87, 0.89], [0.88, 0.90], 0.005)
    assert result.detectable == pytest.approx(0.075849, abs=1e-5)
    assert "inconclusive" in result.verdict and "7.6 pt or more" in result.verdict


def test_verdict_exact_shape_not_significant() -> None:
    line = verdict("Keras", "PyTorch", Interval(0.003, -0.002, 0.008), 0.21)
    assert line == "PyTorch vs Keras: +0.3 pt, 95% CI [-0.2, 0.8], p=0.21: no significant difference"


@pytest.mark.parametrize(
    ("diff", "p", "expected"),
    [
        (
            Interval(0.012, 0.006, 0.018),
            0.0386,
            "PyTorch vs Keras: +1.2 pt, 95% CI [0.6, 1.8], p=0.039: PyTorch better",
        ),
        (
            Interval(-0.012, -0.018, -0.006),
            0.0001,
            "PyTorch vs Keras: -1.2 pt, 95% CI [-1.8, -0.6], p<0.001: Keras better",
        ),
        (
            Interval(-0.0004, -0.004, 0.003),
            1.0,
            "PyTorch vs Keras: +0.0 pt, 95% CI [-0.4, 0.3], p=1.0: no significant difference",
        ),
        (
            Interval(0.01, 0.0, 0.02, 0.9),
            0.5,
            "PyTorch vs Keras: +1.0 pt, 90% CI [0.0, 2.0], p=0.50: no significant difference",
        ),
        (
            Interval(0.01, 0.0, 0.02),
            0.05,
            "PyTorch vs Keras: +1.0 pt, 95% CI [0.0, 2.0], p=0.050: no significant difference",
        ),
    ],
)
def test_verdict_wording(diff: Interval, p: float, expected: str) -> None:
    assert verdict("Keras", "PyTorch", diff, p) == expected


def test_verdict_respects_alpha_and_rejects_bad_p() -> None:
    diff = Interval(0.01, 0.001, 0.02)
    assert verdict("Keras", "PyTorch", diff, 0.03, alpha=0.01).endswith("no significant difference")
    with pytest.raises(FmnistError):
        verdict("Keras", "PyTorch", diff, math.nan)


# Two samples worked by hand: a = 86, 87, 88 and b = 88, 89, 90 (points). Means 87 and 89, variances 1 and 1,
# so the difference is 2, SE = sqrt(1/3 + 1/3) = 0.8165, Welch's df = (2/3)^2 / (2 (1/3)^2 / 2) = 4, t = 2/SE = 2.449.
WELCH_A, WELCH_B = [86.0, 87.0, 88.0], [88.0, 89.0, 90.0]
SE = math.sqrt(2 / 3)


def test_welch_interval_and_p_known_answer() -> None:
    interval, p = welch_test(WELCH_A, WELCH_B)
    assert interval.estimate == pytest.approx(2.0)
    # t(0.975, df 4) = 2.7764 (tables): 2 ± 2.7764 × 0.8165 = 2 ± 2.2670.
    assert (interval.low, interval.high) == pytest.approx((2 - 2.7764 * SE, 2 + 2.7764 * SE), abs=1e-3)
    # t = 2.449 on 4 df lies between the tables' 2.132 (p = 0.10) and 2.776 (p = 0.05): p = 0.0705.
    assert p == pytest.approx(0.0705, abs=1e-4)
    # Swapping the samples flips the sign only.
    swapped, p_swapped = welch_test(WELCH_B, WELCH_A)
    assert (swapped.estimate, swapped.low, p_swapped) == pytest.approx((-2.0, -interval.high, p))


def test_welch_with_unequal_sizes_and_spreads() -> None:
    # a = 0, 2 (var 2, n 2), b = 1, 1, 4 (var 3, n 3): SE^2 = 1 + 1 = 2, df = 4 / (1/1 + 1/2) = 8/3.
    interval, _ = welch_test([0.0, 2.0], [1.0, 1.0, 4.0])
    assert interval.estimate == pytest.approx(1.0)
    from scipy import stats as sp

    half = sp.t.ppf(0.975, 8 / 3) * math.sqrt(2)
    assert (interval.low, interval.high) == pytest.approx((1 - half, 1 + half))


def test_welch_without_spread_is_exact() -> None:
    assert welch_test([87.0, 87.0], [87.0, 87.0]) == (Interval(0.0, 0.0, 0.0), 1.0)
    interval, p = welch_test([87.0, 87.0], [88.0, 88.0])
    assert (interval.low, interval.high, p) == (1.0, 1.0, 0.0)


def test_welch_needs_two_values_a_side() -> None:
    with pytest.raises(FmnistError, match="at least 2 values on each side"):
        welch_test([87.0], [88.0, 89.0])


def test_tost_known_answer() -> None:
    # Margin 5: the larger one-sided p is P(T_4 < (2 - 5) / SE = -3.674) = 0.0107: equivalent at alpha 0.05,
    # as the 90% interval 2 ± 2.1318 × 0.8165 = [0.26, 3.74] lies inside ±5.
    assert tost_p_value(WELCH_A, WELCH_B, 5.0) == pytest.approx(0.0107, abs=1e-4)
    # Margin 0.5: P(T_4 < (2 - 0.5) / SE = 1.837) = 0.93: not equivalent.
    assert tost_p_value(WELCH_A, WELCH_B, 0.5) == pytest.approx(0.930, abs=1e-3)
    assert tost_p_value([87.0, 87.0], [87.2, 87.2], 0.5) == 0.0
    with pytest.raises(FmnistError, match="margin must be positive"):
        tost_p_value(WELCH_A, WELCH_B, 0.0)


def test_holm_known_answer_keeps_the_order() -> None:
    # Sorted: 0.01 × 3 = 0.03; 0.03 × 2 = 0.06; 0.04 × 1 = 0.04, raised to the running maximum 0.06.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([0.2]) == [0.2] and holm([]) == []


def test_min_detectable_difference_known_answer() -> None:
    # Pooled SD 1, n 3 + 3, df 4: (t(0.975) 2.7764 + t(0.8) 0.9410) × 1 × sqrt(2/3) = 3.035.
    assert min_detectable_difference(WELCH_A, WELCH_B) == pytest.approx(3.0353, abs=1e-3)
    # Twelve trials a side of the same values detect an effect less than half as large.
    assert min_detectable_difference(WELCH_A * 4, WELCH_B * 4) < 3.0353 / 2
