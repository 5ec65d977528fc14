"""The Keras-vs-PyTorch comparison as data, Markdown, HTML and MLflow metrics: two trained models image by image
beside the reference study (:class:`Comparison`), or the two frameworks across seeds (:class:`SeedComparison`). Both
only arrange numbers from `fmnist.evaluate.stats`, so the report and the tracked numbers agree."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from fmnist.errors import FmnistError
from fmnist.evaluate.markdown import html_page, markdown_table
from fmnist.evaluate.metrics import check_metric_key
from fmnist.evaluate.stats import (
    FrameworkComparison,
    Interval,
    McNemarResult,
    compare_frameworks,
    seed_summary,
    verdict,
)

DISPLAY_NAMES: Mapping[str, str] = MappingProxyType({"keras": "Keras", "torch": "PyTorch"})
SPLITS: tuple[str, ...] = ("train/acc", "val/acc", "test/acc", "official_test/acc")
COLUMN_TITLES: tuple[str, ...] = ("Train", "Val", "Test-900", "Official test (95% CI)")
CSS = "table{border-collapse:collapse;font-family:sans-serif}th,td{border:1px solid #ccc;padding:4px 8px}"

# The reference study's accuracies, as fractions (it reports percent: Keras 91.69 / 89.01 / 89.18,
# PyTorch 82.16 / 87.91 / 87.09). It scored a 900-image test split only, so there is no official-test figure.
REFERENCE_STUDY: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "keras": MappingProxyType({"train/acc": 0.9169, "val/acc": 0.8901, "test/acc": 0.8918}),
        "torch": MappingProxyType({"train/acc": 0.8216, "val/acc": 0.8791, "test/acc": 0.8709}),
    }
)


def display_name(framework: str) -> str:
    """``"Keras"`` for ``"keras"``, ``"PyTorch"`` for ``"torch"``; other names unchanged."""
    return DISPLAY_NAMES.get(framework, framework)


@dataclass(frozen=True)
class ComparisonRow:
    """One framework from one source; ``None`` where that source has no number."""

    framework: str
    source: str  # "reference study" or "this run"
    accuracies: tuple[float | None, ...]  # in `SPLITS` order, fractions
    official_ci: Interval | None


@dataclass(frozen=True)
class Comparison:
    """One trained model per framework, reference study and this run, plus the paired test on the official test
    set (difference and test: ``names[1]`` against ``names[0]``)."""

    names: tuple[str, str]
    rows: tuple[ComparisonRow, ...]
    diff: Interval
    mcnemar: McNemarResult
    verdict: str

    def _cells(self, row: ComparisonRow) -> list[str]:
        cells = ["—" if v is None else f"{v * 100:.2f}" for v in row.accuracies]
        if row.official_ci is not None:
            cells[-1] += f" [{row.official_ci.low * 100:.2f}, {row.official_ci.high * 100:.2f}]"
        return [display_name(row.framework), row.source, *cells]

    def to_markdown(self) -> str:
        """A Markdown table (accuracies in percent), the verdict, and the McNemar counts."""
        a, b = (display_name(n) for n in self.names)
        rows = [self._cells(r) for r in self.rows]
        table = markdown_table(["Framework", "Source", *COLUMN_TITLES], rows, ["---", "---", *["---:"] * 4])
        mcnemar = (
            f"Exact McNemar test on the official test set: {self.mcnemar.b} images only {a} got right, "
            f"{self.mcnemar.c} only {b} (p={self.mcnemar.p_value:.3g})."
        )
        return "\n".join([table, "", f"**{self.verdict}**", "", mcnemar]) + "\n"

    def to_html(self) -> str:
        """The Markdown as a self-contained HTML page, every value escaped."""
        return html_page("Keras vs PyTorch", self.to_markdown(), CSS)

    def metrics(self) -> dict[str, float]:
        """Flat numbers for MLflow: the difference in points, its CI, McNemar, and each framework's CI."""
        flat = {
            "compare/official_test_diff_pt": self.diff.estimate * 100,
            "compare/diff_ci_low_pt": self.diff.low * 100,
            "compare/diff_ci_high_pt": self.diff.high * 100,
            "compare/mcnemar_p_value": self.mcnemar.p_value,
            "compare/mcnemar_b": float(self.mcnemar.b),
            "compare/mcnemar_c": float(self.mcnemar.c),
        }
        for row in (r for r in self.rows if r.official_ci is not None):
            fw, ci = row.framework, row.official_ci
            flat |= {
                f"compare/{fw}/official_test_acc": ci.estimate,
                f"compare/{fw}/official_test_acc_ci_low": ci.low,
                f"compare/{fw}/official_test_acc_ci_high": ci.high,
            }
            reference = REFERENCE_STUDY.get(fw, {})
            for split, ours in zip(SPLITS, row.accuracies, strict=True):
                if split in reference and ours is not None:
                    flat[f"compare/{fw}/{split.split('/')[0]}_acc_minus_reference_pt"] = (ours - reference[split]) * 100
        for key in flat:
            check_metric_key(key)
        return flat


def build_comparison(
    ours: Mapping[str, Mapping[str, float]],
    ci: Mapping[str, Interval],
    diff: Interval,
    mcnemar: McNemarResult,
    names: Sequence[str] = ("keras", "torch"),
) -> Comparison:
    """Arrange this run's accuracies (``ours[fw][split]``, fractions) next to `REFERENCE_STUDY`; ``ci[fw]`` is the
    official-test interval of framework ``fw``."""
    if len(names) != 2:
        raise FmnistError(f"a comparison needs exactly two frameworks, got {list(names)}")
    rows: list[ComparisonRow] = []
    for fw in names:
        if fw not in ours or fw not in ci:
            raise FmnistError(f"no results for framework {fw!r} (have {sorted(ours)} and CIs for {sorted(ci)})")
        missing = [s for s in SPLITS if s not in ours[fw]]
        if missing:
            raise FmnistError(f"{fw}: missing accuracies {missing}")
        if fw in REFERENCE_STUDY:
            rows.append(ComparisonRow(fw, "reference study", tuple(REFERENCE_STUDY[fw].get(s) for s in SPLITS), None))
        accuracies = tuple(ours[fw][s] for s in SPLITS)
        bad = [(s, a) for s, a in zip(SPLITS, accuracies, strict=True) if math.isnan(a) or not 0.0 <= a <= 1.0]
        if bad:
            raise FmnistError(f"{fw} {bad[0][0]} must be an accuracy fraction in [0, 1], got {bad[0][1]}")
        # The interval must describe the same number the table shows (catches percent vs fraction mix-ups).
        if not math.isclose(ci[fw].estimate, accuracies[-1], abs_tol=1e-9):
            raise FmnistError(f"{fw}: CI estimate {ci[fw].estimate} differs from official_test/acc {accuracies[-1]}")
        rows.append(ComparisonRow(fw, "this run", accuracies, ci[fw]))
    # One training per framework compares two models, not two frameworks: the line says so.
    model_a, model_b = (f"this {display_name(n)} model" for n in names)
    line = verdict(model_a, model_b, diff, mcnemar.p_value) + " (one training each; --seeds N compares frameworks)"
    return Comparison((names[0], names[1]), tuple(rows), diff, mcnemar, line)


@dataclass(frozen=True)
class SeedComparison:
    """Each framework's official-test accuracy per training seed (``per_seed[fw][seed]``, fractions) and, with two
    frameworks, what those seeds say about the frameworks themselves."""

    per_seed: dict[str, dict[int, float]]
    frameworks: FrameworkComparison | None = None

    @property
    def verdict(self) -> str:
        return self.frameworks.verdict if self.frameworks else "single framework: no comparison"

    def to_markdown(self) -> str:
        """Mean ± std and every seed's accuracy per framework, then the verdict."""
        rows = []
        for fw, values in self.per_seed.items():
            mean, std = seed_summary(list(values.values()))
            cells = ", ".join(f"{s}: {100 * v:.2f}" for s, v in sorted(values.items()))
            rows.append([display_name(fw), str(len(values)), f"{100 * mean:.2f} ± {100 * std:.2f}", cells])
        table = markdown_table(
            ["Framework", "Seeds", "Official test, mean ± std", "Per seed"], rows, ["---", "---:", "---:"]
        )
        return "\n".join([table, "", f"**{self.verdict}** (Welch interval over seeds; official test set)", ""])

    def metrics(self) -> dict[str, float]:
        """Each framework's mean and std over seeds; with two, the Welch difference, TOST and detectable size."""
        metrics: dict[str, float] = {}
        for fw, values in self.per_seed.items():
            mean, std = seed_summary(list(values.values()))
            metrics |= {f"seeds/{fw}/official_test_acc_mean": mean, f"seeds/{fw}/official_test_acc_std": std}
        if (f := self.frameworks) is not None:
            metrics |= {
                "seeds/official_test_diff_pt": 100 * f.diff.estimate,
                "seeds/diff_ci_low_pt": 100 * f.diff.low,
                "seeds/diff_ci_high_pt": 100 * f.diff.high,
                "seeds/welch_p_value": f.p_value,
                "seeds/tost_p_value": f.p_tost,
                "seeds/equivalence_margin_pt": 100 * f.margin,
                "seeds/detectable_diff_pt": 100 * f.detectable,
            }
        return {key: value for key, value in metrics.items() if math.isfinite(value)}


def compare_seeds(per_seed: Mapping[str, Mapping[int, float]], margin: float) -> SeedComparison:
    """:class:`SeedComparison` of ``per_seed``; the first two frameworks compared on the seeds both trained."""
    per_seed = {fw: dict(values) for fw, values in per_seed.items()}
    if len(per_seed) < 2:
        return SeedComparison(per_seed)
    a, b = list(per_seed)[:2]
    seeds = sorted(set(per_seed[a]) & set(per_seed[b]))
    acc_a, acc_b = [per_seed[a][s] for s in seeds], [per_seed[b][s] for s in seeds]
    return SeedComparison(per_seed, compare_frameworks(display_name(a), display_name(b), acc_a, acc_b, margin))
