"""Drift checks and the retrain decision, on generated images: each check flags the shift it is made for, an
unshifted batch passes them all, and a retrain happens exactly when the data changed since the champion."""

from __future__ import annotations

import numpy as np
import pytest

from fmnist.data.shifts import Shift, apply_shift
from fmnist.evaluate.drift import ChampionScores, DriftThresholds, check_drift, image_features, label_drift
from fmnist.retrain.decision import retrain_check


def _garments(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Blobs of ink on black, of random size, position and brightness: enough structure for the features."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:28, 0:28]
    centres = rng.normal(14, 1.5, (n, 2))
    radius = rng.uniform(5, 9, n)
    level = rng.uniform(120, 230, n)
    distance = np.hypot(rows[None] - centres[:, 0, None, None], cols[None] - centres[:, 1, None, None])
    images = np.where(distance < radius[:, None, None], level[:, None, None], 0.0)
    images += rng.normal(0, 4, images.shape)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    return np.clip(images, 0, 255).astype(np.uint8).reshape(n, 784), labels


REFERENCE = _garments(4000, seed=0)


def _check(pixels: np.ndarray, labels: np.ndarray, champion: ChampionScores | None = None):
    return check_drift(*REFERENCE, pixels, labels, champion)


def test_an_unshifted_batch_passes_every_check() -> None:
    report = _check(*_garments(2000, seed=1))
    assert not report.drifted and report.reasons == [] and report.metrics["drift/detected"] == 0.0


@pytest.mark.parametrize(
    ("shift", "flagged"),
    [
        (Shift(brightness=40), "mean grey shifted"),
        (Shift(contrast=0.5), "grey std shifted"),
        (Shift(translate=4), "centre"),
    ],
)
def test_each_pixel_shift_is_flagged_by_its_feature(shift: Shift, flagged: str) -> None:
    pixels, labels = _garments(2000, seed=1)
    report = _check(apply_shift(pixels, shift, np.random.default_rng(0)), labels)
    assert report.drifted and any(flagged in reason for reason in report.reasons), report.reasons


def test_a_changed_class_mix_is_flagged_and_a_small_one_is_not() -> None:
    pixels, labels = _garments(2000, seed=1)
    mostly_shirts = np.where(np.arange(2000) % 2 == 0, 6, labels).astype(np.uint8)
    assert any("label mix" in r for r in _check(pixels, mostly_shirts).reasons)
    _, _, tvd = label_drift(REFERENCE[1], labels)
    assert tvd < DriftThresholds().label_tvd  # a random draw differs a little, and is not flagged


def test_the_champion_losing_accuracy_on_the_batch_is_flagged_with_both_figures() -> None:
    rng = np.random.default_rng(0)
    reference = rng.random(900) < 0.9
    champion = ChampionScores("4", reference, np.full(900, 0.9), rng.random(2000) < 0.8, np.full(2000, 0.7))
    report = _check(*_garments(2000, seed=1), champion)
    assert report.drifted and report.champion_version == "4"
    assert report.metrics["drift/champion/acc_drop"] == pytest.approx(reference.mean() - champion.batch_correct.mean())
    assert "champion v4 lost" in report.reasons[0] and "| champion v4 accuracy" in report.markdown("0001-x")
    steady = ChampionScores("4", reference, np.full(900, 0.9), reference.copy(), np.full(900, 0.9))
    assert not check_drift(*REFERENCE, *_garments(900, seed=2), steady).drifted


def test_thresholds_decide_what_counts() -> None:
    pixels, labels = _garments(2000, seed=1)
    shifted = apply_shift(pixels, Shift(brightness=10), np.random.default_rng(0))
    assert check_drift(*REFERENCE, shifted, labels).drifted
    assert not check_drift(*REFERENCE, shifted, labels, thresholds=DriftThresholds(feature_ks=0.9)).drifted


def test_features_see_position_and_ink() -> None:
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 2:6, 20:24] = 200
    features = image_features(image.reshape(1, 784))
    assert features["centre_row"][0] == pytest.approx(3.5) and features["centre_col"][0] == pytest.approx(21.5)
    assert features["ink_share"][0] == pytest.approx(16 / 784)


VERSION, OTHER = "a" * 64, "b" * 64


def test_no_retrain_when_the_data_is_the_one_the_champion_was_trained_on() -> None:
    check = retrain_check(VERSION, ["0001-x"], "3", {"data.version": VERSION, "data.batches": "0001-x"}, {})
    assert not check.needed and "nothing new" in check.reason and "v3" in check.reason


def test_a_retrain_names_its_reason() -> None:
    assert retrain_check(VERSION, [], None, {}, {}).reason == "no champion yet"
    assert retrain_check(VERSION, [], "2", {}, {}).needed
    tags = {"data.version": OTHER, "data.batches": "0001-x"}
    check = retrain_check(VERSION, ["0001-x", "0002-y"], "3", tags, {"0002-y": "drift"})
    assert check.needed and check.new_batches == ("0002-y",)
    assert check.reason == "new data: 1 new batch(es) since champion v3 (drift in 0002-y)"
    quiet = retrain_check(VERSION, ["0001-x", "0002-y"], "3", tags, {"0002-y": "no-drift"})
    assert quiet.reason.endswith("(no drift detected)")
