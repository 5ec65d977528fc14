"""Drift of a new labelled batch against the data the champion was trained on (pure functions, scipy tests).

Each check needs a significant test *and* a large enough effect: with thousands of images a test alone flags
differences too small to matter. The checks: docs/retraining.md, 'Drift checks'.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fmnist.classes import NUM_CLASSES

FEATURES = ("mean_grey", "grey_std", "ink_share", "centre_row", "centre_col")
# A pixel counts as ink above this grey level (the background of Fashion-MNIST is 0).
INK_LEVEL = 32


@dataclass(frozen=True)
class DriftThresholds:
    """When a batch counts as drifted: a test below ``alpha`` *and* an effect at least as large as its threshold."""

    alpha: float = 0.01  # significance level of each check (the feature tests share it, Bonferroni)
    label_tvd: float = 0.05  # total variation distance of the class mixes (0.05: 5 in 100 images change class)
    feature_ks: float = 0.1  # Kolmogorov-Smirnov statistic of a per-image feature
    accuracy_drop: float = 0.02  # champion accuracy lost on the batch against its validation accuracy


@dataclass(frozen=True)
class ChampionScores:
    """The champion's correctness and confidence per image, on the reference validation images and the batch."""

    version: str
    reference_correct: np.ndarray
    reference_confidence: np.ndarray
    batch_correct: np.ndarray
    batch_confidence: np.ndarray


@dataclass(frozen=True)
class DriftReport:
    """The checks' metrics (``drift/...``), whether the batch drifted, and why."""

    metrics: dict[str, float]
    drifted: bool
    reasons: list[str] = field(default_factory=list)
    champion_version: str | None = None

    @property
    def status(self) -> str:
        return "drift" if self.drifted else "no-drift"

    def markdown(self, batch_id: str) -> str:
        """The report's drift section for this batch."""
        m = self.metrics
        lines = [
            f"### Batch {batch_id}: {'**drift**' if self.drifted else 'no drift'}",
            "",
            "| check | test | p | effect |",
            "|---|---|---:|---:|",
            f"| label mix | chi-square | {m['drift/label/p_value']:.3g} | TVD {m['drift/label/tvd']:.3f} |",
        ]
        for name in FEATURES:
            lines.append(
                f"| {name.replace('_', ' ')} | KS | {m[f'drift/feature/{name}/p_value']:.3g}"
                f" | KS {m[f'drift/feature/{name}/ks']:.3f} |"
            )
        if "drift/champion/batch_acc" in m:
            lines.append(
                f"| champion v{self.champion_version} accuracy | batch {100 * m['drift/champion/batch_acc']:.2f} %"
                f" vs val {100 * m['drift/champion/reference_acc']:.2f} % | |"
                f" drop {100 * m['drift/champion/acc_drop']:.2f} pt |"
            )
            lines.append(
                f"| champion confidence | batch {m['drift/champion/batch_confidence']:.3f}"
                f" vs val {m['drift/champion/reference_confidence']:.3f} | | |"
            )
        else:
            lines.append("| champion | none registered yet | | |")
        lines += ["", *(f"- {reason}" for reason in self.reasons or ["every check within its threshold"]), ""]
        return "\n".join(lines)


def image_features(pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`FEATURES` of each image of ``pixels`` (N, 784) uint8; the centre is that of the grey mass."""
    images = pixels.reshape(-1, 28, 28).astype(np.float32)
    mass = images.sum(axis=(1, 2))
    safe = np.where(mass > 0, mass, 1.0)
    grid = np.arange(28, dtype=np.float32)
    return {
        "mean_grey": images.mean(axis=(1, 2)),
        "grey_std": images.std(axis=(1, 2)),
        "ink_share": (pixels > INK_LEVEL).mean(axis=1),
        "centre_row": (images.sum(axis=2) @ grid) / safe,
        "centre_col": (images.sum(axis=1) @ grid) / safe,
    }


def label_drift(reference_labels: np.ndarray, batch_labels: np.ndarray) -> tuple[float, float, float]:
    """(chi-square statistic, p, total variation distance) of the batch's class counts against the reference's
    class shares. A class the reference never shows is given a tiny share, so seeing it is a strong signal."""
    from scipy.stats import chisquare

    reference = np.bincount(reference_labels, minlength=NUM_CLASSES).astype(np.float64)
    observed = np.bincount(batch_labels, minlength=NUM_CLASSES).astype(np.float64)
    shares = np.maximum(reference / reference.sum(), 1e-9)
    shares /= shares.sum()
    statistic, p_value = chisquare(observed, shares * observed.sum())
    tvd = 0.5 * np.abs(observed / observed.sum() - shares).sum()
    return float(statistic), float(p_value), float(tvd)


def check_drift(
    reference_pixels: np.ndarray,
    reference_labels: np.ndarray,
    batch_pixels: np.ndarray,
    batch_labels: np.ndarray,
    champion: ChampionScores | None = None,
    thresholds: DriftThresholds = DriftThresholds(),
) -> DriftReport:
    """A batch against the reference (the champion's training images) and, given ``champion``, its accuracy on the
    batch against that on its validation images."""
    from scipy.stats import ks_2samp

    metrics: dict[str, float] = {}
    reasons: list[str] = []
    chi2, p_label, tvd = label_drift(reference_labels, batch_labels)
    metrics |= {"drift/label/chi2": chi2, "drift/label/p_value": p_label, "drift/label/tvd": tvd}
    if p_label < thresholds.alpha and tvd >= thresholds.label_tvd:
        reasons.append(f"label mix changed: TVD {tvd:.3f} >= {thresholds.label_tvd} (chi-square p {p_label:.2g})")
    reference = image_features(reference_pixels)
    batch = image_features(batch_pixels)
    alpha_each = thresholds.alpha / len(FEATURES)
    for name in FEATURES:
        result = ks_2samp(reference[name], batch[name])
        ks, p = float(result.statistic), float(result.pvalue)
        metrics |= {f"drift/feature/{name}/ks": ks, f"drift/feature/{name}/p_value": p}
        if p < alpha_each and ks >= thresholds.feature_ks:
            reasons.append(f"{name.replace('_', ' ')} shifted: KS {ks:.3f} >= {thresholds.feature_ks} (p {p:.2g})")
    if champion is not None:
        reference_acc = float(champion.reference_correct.mean())
        batch_acc = float(champion.batch_correct.mean())
        drop = reference_acc - batch_acc
        metrics |= {
            "drift/champion/reference_acc": reference_acc,
            "drift/champion/batch_acc": batch_acc,
            "drift/champion/acc_drop": drop,
            "drift/champion/reference_confidence": float(champion.reference_confidence.mean()),
            "drift/champion/batch_confidence": float(champion.batch_confidence.mean()),
        }
        if drop >= thresholds.accuracy_drop:
            reasons.append(
                f"champion v{champion.version} lost {100 * drop:.2f} pt on the batch"
                f" ({100 * batch_acc:.2f} % vs {100 * reference_acc:.2f} % on validation)"
            )
    metrics["drift/detected"] = float(bool(reasons))
    return DriftReport(metrics, bool(reasons), reasons, champion.version if champion else None)
