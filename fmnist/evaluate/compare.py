"""The Keras-vs-PyTorch comparison: this run next to the reference study, as data, Markdown and HTML.

`build_comparison` only arranges numbers computed elsewhere (`fmnist.evaluate.metrics`, `fmnist.evaluate.stats`);
rendering and the flat MLflow metrics are methods of the result, so the report and the tracked numbers cannot drift.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from fmnist.errors import FmnistError
from fmnist.evaluate.metrics import check_metric_key
from fmnist.evaluate.stats import Interval, McNemarResult, verdict

DISPLAY_NAMES: Mapping[str, str] = MappingProxyType({"keras": "Keras", "torch": "PyTorch"})
SPLITS: tuple[str, ...] = ("train/acc", "val/acc", "test/acc", "official_test/acc")
COLUMN_TITLES: tuple[str, ...] = ("Train", "Val", "Test-900", "Official test (95% CI)")

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
    """Both frameworks, reference study and this run, plus the paired test on the official test set."""

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

    def _mcnemar_line(self) -> str:
        a, b = (display_name(n) for n in self.names)
        return (
            f"Exact McNemar test on the official test set: {self.mcnemar.b} images only {a} got right, "
            f"{self.mcnemar.c} only {b} (p={self.mcnemar.p_value:.3g})."
        )

    def to_markdown(self) -> str:
        """A Markdown table (accuracies in percent) followed by the verdict line."""
        header = ["Framework", "Source", *COLUMN_TITLES]
        lines = [
            "| " + " | ".join(header) + " |",
            "|---|---|" + "---:|" * len(COLUMN_TITLES),
            *("| " + " | ".join(self._cells(row)) + " |" for row in self.rows),
            "",
            f"**{self.verdict}**",
            "",
            self._mcnemar_line(),
        ]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """A self-contained HTML page with the same table and verdict, every value escaped."""
        header = "".join(f"<th>{html.escape(h)}</th>" for h in ["Framework", "Source", *COLUMN_TITLES])
        body = "\n".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in self._cells(row)) + "</tr>" for row in self.rows
        )
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Keras vs PyTorch</title>\n'
            "<style>table{border-collapse:collapse;font-family:sans-serif}"
            "th,td{border:1px solid #ccc;padding:4px 8px}td{text-align:right}"
            "td:nth-child(-n+2){text-align:left}</style></head><body>\n"
            f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n"
            f"<p><strong>{html.escape(self.verdict)}</strong></p>\n"
            f"<p>{html.escape(self._mcnemar_line())}</p>\n</body></html>\n"
        )

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
        for row in self.rows:
            if row.official_ci is None:
                continue
            fw = row.framework
            flat[f"compare/{fw}/official_test_acc"] = row.official_ci.estimate
            flat[f"compare/{fw}/official_test_acc_ci_low"] = row.official_ci.low
            flat[f"compare/{fw}/official_test_acc_ci_high"] = row.official_ci.high
            reference = REFERENCE_STUDY.get(fw, {})
            for split, ours in zip(SPLITS, row.accuracies, strict=True):
                if split in reference and ours is not None:
                    flat[f"compare/{fw}/{split.split('/')[0]}_acc_minus_reference_pt"] = (ours - reference[split]) * 100
        for key in flat:
            check_metric_key(key)
        return flat


def _check_fraction(where: str, value: float) -> float:
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise FmnistError(f"{where} must be an accuracy fraction in [0, 1], got {value}")
    return float(value)


def build_comparison(
    ours: Mapping[str, Mapping[str, float]],
    ci: Mapping[str, Interval],
    diff: Interval,
    mcnemar: McNemarResult,
    names: Sequence[str] = ("keras", "torch"),
) -> Comparison:
    """Arrange this run's accuracies (``ours[fw][split]``, fractions) next to `REFERENCE_STUDY`.

    ``ci[fw]`` is the official-test interval of framework ``fw``; ``diff`` and ``mcnemar`` compare
    ``names[1]`` against ``names[0]`` (difference = second minus first).
    """
    if len(names) != 2:
        raise FmnistError(f"a comparison needs exactly two frameworks, got {list(names)}")
    name_a, name_b = names
    rows: list[ComparisonRow] = []
    for fw in (name_a, name_b):
        if fw not in ours or fw not in ci:
            raise FmnistError(f"no results for framework {fw!r} (have {sorted(ours)} and CIs for {sorted(ci)})")
        missing = [s for s in SPLITS if s not in ours[fw]]
        if missing:
            raise FmnistError(f"{fw}: missing accuracies {missing}")
        if fw in REFERENCE_STUDY:
            reference = tuple(REFERENCE_STUDY[fw].get(s) for s in SPLITS)
            rows.append(ComparisonRow(fw, "reference study", reference, None))
        accuracies = tuple(_check_fraction(f"{fw} {s}", ours[fw][s]) for s in SPLITS)
        # The interval must describe the same number the table shows (catches percent vs fraction mix-ups).
        if not math.isclose(ci[fw].estimate, accuracies[-1], abs_tol=1e-9):
            raise FmnistError(f"{fw}: CI estimate {ci[fw].estimate} differs from official_test/acc {accuracies[-1]}")
        rows.append(ComparisonRow(fw, "this run", accuracies, ci[fw]))
    # One training per framework compares two models, not two frameworks: the line says so.
    model_a, model_b = (f"this {display_name(n)} model" for n in (name_a, name_b))
    line = verdict(model_a, model_b, diff, mcnemar.p_value) + " (one training each; --seeds N compares frameworks)"
    return Comparison(names=(name_a, name_b), rows=tuple(rows), diff=diff, mcnemar=mcnemar, verdict=line)
