"""Evaluate the trained frameworks from what MLflow holds, and compare them with statistics.

Each framework's best checkpoint and architecture are downloaded from its child run (so a broken artifact
fails here, not in production), scored on ``train``, ``val``, ``test`` and ``official_test``; the metrics go to
the child run, the comparison (table, confidence intervals, McNemar test, verdict, figures) to the parent run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fmnist.data.manifest import SPLIT_NAMES, read_manifest, read_verified_split
from fmnist.evaluate.compare import build_comparison, display_name
from fmnist.evaluate.figures import (
    confusion_matrix_png,
    disagreement_gallery_png,
    learning_curves_png,
    per_class_f1_png,
)
from fmnist.evaluate.metrics import SplitMetrics, evaluate_predictions
from fmnist.evaluate.stats import (
    bootstrap_accuracy_ci,
    bootstrap_difference_ci,
    compare_frameworks,
    mcnemar_exact,
    seed_summary,
)
from fmnist.serve.model import Classifier
from fmnist.tracking import Tracker, layout

# The split names of the per-epoch curves (train/acc, val/acc, ...) are taken; the evaluation of the best
# weights on those two splits is logged as train_eval/... and val_eval/... so the curves stay clean.
EVAL_PREFIX = {"train": "train_eval", "val": "val_eval", "test": "test", "official_test": "official_test"}
CURVES = ("train/loss", "val/loss", "train/acc", "val/acc")
# Two frameworks whose mean accuracies over seeds differ by less than this (a fraction) count as equivalent.
DEFAULT_EQUIVALENCE_MARGIN = 0.005


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation, small and JSON-friendly."""

    accuracy: dict[str, dict[str, float]]  # framework → split → accuracy
    verdict: str
    markdown: str
    metrics: dict[str, float]
    artifacts: list[str]
    per_run: dict[str, dict[str, float]] = field(default_factory=dict)  # run id → official_test/acc


def load_eval_splits(split_dir: Path, names: Sequence[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every split of a split folder (or those ``names``), as (pixels, labels), each checked against its manifest."""
    return {name: read_verified_split(split_dir, name) for name in (names or SPLIT_NAMES)}


def score_run(
    tracker: Tracker,
    run_id: str,
    framework: str,
    data: Mapping[str, tuple[np.ndarray, np.ndarray]],
    digests: Mapping[str, str],
) -> dict[str, SplitMetrics]:
    """Score one child run's best checkpoint on every split and log the metrics to that run, each split's also
    as metrics of the run's logged model on that split's dataset (``digests``: split → dataset digest)."""
    classifier = Classifier.from_run(tracker, run_id, framework)
    results = {split: evaluate_predictions(y, classifier.predict_proba(x)) for split, (x, y) in data.items()}
    model_id = tracker.logged_model_id(run_id)
    for split, metrics in results.items():
        dataset = (layout.dataset_name(split), digests[split])
        tracker.log_metrics(run_id, metrics.as_flat(EVAL_PREFIX[split]), model_id=model_id, dataset=dataset)
    return results


def evaluate(
    tracker: Tracker,
    parent_run_id: str,
    child_runs: Mapping[str, str],
    split_dir: Path,
    *,
    n_boot: int = 10_000,
    seed: int = 0,
    scored: Mapping[str, Mapping[str, SplitMetrics]] | None = None,
) -> Evaluation:
    """Score every framework of ``child_runs`` (framework → run id) and log the comparison on the parent.

    ``scored`` holds runs already scored by `score_run` (run id → split → metrics), e.g. by the training
    process right after training; only the others are scored here.
    """
    data = load_eval_splits(split_dir)
    digests = read_manifest(split_dir, verify=False).dataset_digests
    scored = scored or {}
    results: dict[str, dict[str, SplitMetrics]] = {}
    for framework, run_id in child_runs.items():
        done = run_id in scored
        results[framework] = dict(scored[run_id]) if done else score_run(tracker, run_id, framework, data, digests)
    accuracy = {fw: {f"{s}/acc": m.accuracy for s, m in res.items()} for fw, res in results.items()}
    artifacts = _log_figures(tracker, parent_run_id, child_runs, results, data["official_test"])
    if len(results) < 2:
        tracker.flush()
        only = next(iter(accuracy))
        line = f"{display_name(only)} only: official test accuracy {100 * accuracy[only]['official_test/acc']:.2f}%"
        return Evaluation(accuracy, line, line + "\n", {}, artifacts, _per_run(child_runs, accuracy))

    name_a, name_b = list(results)[:2]
    labels = data["official_test"][1]
    correct = {fw: results[fw]["official_test"].predictions == labels for fw in (name_a, name_b)}
    ci = {fw: bootstrap_accuracy_ci(c, n_boot=n_boot, seed=seed) for fw, c in correct.items()}
    diff = bootstrap_difference_ci(correct[name_a], correct[name_b], n_boot=n_boot, seed=seed)
    comparison = build_comparison(accuracy, ci, diff, mcnemar_exact(correct[name_a], correct[name_b]), (name_a, name_b))
    markdown = comparison.to_markdown()
    tracker.log_metrics(parent_run_id, comparison.metrics())
    tracker.log_text(parent_run_id, markdown, layout.COMPARISON_MD)
    tracker.log_text(parent_run_id, comparison.to_html(), layout.COMPARISON_HTML)
    tracker.set_tags(parent_run_id, {"verdict": comparison.verdict})
    tracker.flush()
    return Evaluation(
        accuracy, comparison.verdict, markdown, comparison.metrics(), artifacts, _per_run(child_runs, accuracy)
    )


def _per_run(child_runs: Mapping[str, str], accuracy: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    return {run: {"official_test/acc": accuracy[fw]["official_test/acc"]} for fw, run in child_runs.items()}


def _log_figures(
    tracker: Tracker,
    parent_run_id: str,
    child_runs: Mapping[str, str],
    results: Mapping[str, Mapping[str, SplitMetrics]],
    official_test: tuple[np.ndarray, np.ndarray],
) -> list[str]:
    figures = {
        layout.confusion_figure(fw): confusion_matrix_png(
            res["official_test"].confusion, f"{display_name(fw)}: official test confusion matrix"
        )
        for fw, res in results.items()
    }
    figures[layout.PER_CLASS_F1_FIGURE] = per_class_f1_png(
        {display_name(fw): res["official_test"].f1 for fw, res in results.items()}
    )
    figures[layout.LEARNING_CURVES_FIGURE] = learning_curves_png(
        {display_name(fw): {k: tracker.metric_history(run, k) for k in CURVES} for fw, run in child_runs.items()}
    )
    if len(results) >= 2:
        a, b = list(results)[:2]
        pixels, labels = official_test
        figures[layout.DISAGREEMENTS_FIGURE] = disagreement_gallery_png(
            pixels, labels, results[a]["official_test"].predictions, results[b]["official_test"].predictions,
            display_name(a), display_name(b),
        )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name, png in figures.items():
            path = Path(tmp) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        tracker.log_artifact(parent_run_id, Path(tmp) / layout.FIGURES_DIR, layout.FIGURES_DIR)
    return sorted(figures)


def evaluate_seeds(
    tracker: Tracker,
    parent_run_id: str,
    runs: Mapping[str, Mapping[int, str]],
    split_dir: Path,
    *,
    scored: Mapping[str, Mapping[str, SplitMetrics]] | None = None,
    margin: float = DEFAULT_EQUIVALENCE_MARGIN,
) -> Evaluation:
    """Multi-seed mode: score every (framework, seed) run; compare the frameworks across seeds.

    ``runs`` maps framework → training seed → child run id. The comparison is the mean ± std of each
    framework's official-test accuracy over seeds, and a framework-level verdict
    (:func:`fmnist.evaluate.stats.compare_frameworks`: Welch interval, TOST equivalence at ±``margin``, the
    smallest difference the seeds could detect).
    """
    data = load_eval_splits(split_dir)
    digests = read_manifest(split_dir, verify=False).dataset_digests
    scored = scored or {}

    def score(run: str, fw: str) -> dict[str, SplitMetrics]:
        return dict(scored[run]) if run in scored else score_run(tracker, run, fw, data, digests)

    results = {fw: {seed: score(run, fw) for seed, run in by_seed.items()} for fw, by_seed in runs.items()}
    per_seed = {
        fw: {seed: res["official_test"].accuracy for seed, res in by_seed.items()} for fw, by_seed in results.items()
    }
    accuracy = {
        fw: {f"{split}/acc": float(np.mean([r[split].accuracy for r in by_seed.values()])) for split in SPLIT_NAMES}
        for fw, by_seed in results.items()
    }
    first = {fw: by_seed[min(by_seed)] for fw, by_seed in results.items()}
    first_runs = {fw: runs[fw][min(runs[fw])] for fw in runs}
    artifacts = _log_figures(tracker, parent_run_id, first_runs, first, data["official_test"])
    metrics: dict[str, float] = {}
    lines = ["| Framework | Seeds | Official test, mean ± std | Per seed |", "|---|---:|---:|---|"]
    for fw, values in per_seed.items():
        mean, std = seed_summary(list(values.values()))
        metrics[f"seeds/{fw}/official_test_acc_mean"] = mean
        metrics[f"seeds/{fw}/official_test_acc_std"] = std
        cells = ", ".join(f"{s}: {100 * v:.2f}" for s, v in sorted(values.items()))
        lines.append(f"| {display_name(fw)} | {len(values)} | {100 * mean:.2f} ± {100 * std:.2f} | {cells} |")
    line = "single framework: no comparison"
    if len(per_seed) >= 2:
        a, b = list(per_seed)[:2]
        seeds = sorted(set(per_seed[a]) & set(per_seed[b]))
        acc_a, acc_b = [per_seed[a][s] for s in seeds], [per_seed[b][s] for s in seeds]
        frameworks = compare_frameworks(display_name(a), display_name(b), acc_a, acc_b, margin)
        line = frameworks.verdict
        metrics.update(
            {
                "seeds/official_test_diff_pt": 100 * frameworks.diff.estimate,
                "seeds/diff_ci_low_pt": 100 * frameworks.diff.low,
                "seeds/diff_ci_high_pt": 100 * frameworks.diff.high,
                "seeds/welch_p_value": frameworks.p_value,
                "seeds/tost_p_value": frameworks.p_tost,
                "seeds/equivalence_margin_pt": 100 * frameworks.margin,
                "seeds/detectable_diff_pt": 100 * frameworks.detectable,
            }
        )
    markdown = "\n".join([*lines, "", f"**{line}** (Welch interval over seeds; official test set)", ""])
    tracker.log_metrics(parent_run_id, {k: v for k, v in metrics.items() if np.isfinite(v)})
    tracker.log_text(parent_run_id, markdown, layout.COMPARISON_MD)
    tracker.set_tags(parent_run_id, {"verdict": line})
    tracker.flush()
    per_run = {runs[fw][seed]: {"official_test/acc": acc} for fw, by in per_seed.items() for seed, acc in by.items()}
    return Evaluation(accuracy, line, markdown, metrics, artifacts, per_run)
