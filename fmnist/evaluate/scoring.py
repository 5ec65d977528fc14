"""Score trained runs from what MLflow holds and log the frameworks' comparison to the parent run. Each best
checkpoint is downloaded back from its child run (a broken artifact fails here, not in production); its metrics go
to that run and its logged model, the comparison, verdict and figures to the parent run."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.data.manifest import SPLIT_NAMES, read_manifest, read_verified_split
from fmnist.evaluate import figures
from fmnist.evaluate.compare import build_comparison, compare_seeds, display_name
from fmnist.evaluate.metrics import SplitMetrics, evaluate_predictions
from fmnist.evaluate.stats import bootstrap_accuracy_ci, bootstrap_difference_ci, mcnemar_exact
from fmnist.serve.model import Classifier
from fmnist.tracking import Tracker, layout

# The per-epoch curves own train/... and val/...; the best weights' scores on those splits are train_eval/...
# and val_eval/..., so the curves stay clean.
EVAL_PREFIX = {"train": "train_eval", "val": "val_eval", "test": "test", "official_test": "official_test"}
# Two frameworks whose mean accuracies over seeds differ by less than this (a fraction) count as equivalent.
DEFAULT_EQUIVALENCE_MARGIN = 0.005


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation, small and JSON-friendly: framework → split → accuracy (mean over seeds)."""

    accuracy: dict[str, dict[str, float]]
    verdict: str
    markdown: str
    metrics: dict[str, float]
    artifacts: list[str]


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
    """Score one child run's best checkpoint on every split of ``data`` and log the metrics to that run, each
    split's also as metrics of the run's logged model on that split's dataset (``digests``: its digest)."""
    classifier = Classifier.from_run(tracker, run_id, framework)
    results = {split: evaluate_predictions(y, classifier.predict_proba(x)) for split, (x, y) in data.items()}
    model_id = tracker.logged_model_id(run_id)
    for split, metrics in results.items():
        dataset = (layout.dataset_name(split), digests[split])
        tracker.log_metrics(run_id, metrics.as_flat(EVAL_PREFIX[split]), model_id=model_id, dataset=dataset)
    return results


def evaluate_runs(
    tracker: Tracker,
    parent_run_id: str,
    runs: Mapping[str, Mapping[int, str]],
    split_dir: Path,
    *,
    scored: Mapping[str, Mapping[str, SplitMetrics]] | None = None,
    margin: float = DEFAULT_EQUIVALENCE_MARGIN,
    n_boot: int = 10_000,
) -> Evaluation:
    """Score the trainings of a parent run (framework → training seed → run id; ``scored``: run id → split →
    metrics of runs scored already) and compare the frameworks on the official test set: the two models image by
    image when each framework trained once (bootstrap intervals, McNemar), else the frameworks across seeds
    (Welch interval, TOST equivalence at ±``margin``, the smallest difference the seeds detect)."""
    data = load_eval_splits(split_dir)
    digests = read_manifest(split_dir, verify=False).dataset_digests
    scored = scored or {}
    results = {
        fw: {
            seed: scored[run] if run in scored else score_run(tracker, run, fw, data, digests)
            for seed, run in by_seed.items()
        }
        for fw, by_seed in runs.items()
    }
    accuracy = {
        fw: {f"{split}/acc": float(np.mean([r[split].accuracy for r in by_seed.values()])) for split in SPLIT_NAMES}
        for fw, by_seed in results.items()
    }
    first_seed = {fw: min(by_seed) for fw, by_seed in runs.items()}
    artifacts = _log_figures(
        tracker,
        parent_run_id,
        {fw: runs[fw][seed] for fw, seed in first_seed.items()},
        {fw: results[fw][seed] for fw, seed in first_seed.items()},
        data["official_test"],
    )
    one_seed = all(len(by_seed) == 1 for by_seed in runs.values())
    if len(results) == 1 and one_seed:
        (only,) = accuracy
        line = f"{display_name(only)} only: official test accuracy {100 * accuracy[only]['official_test/acc']:.2f}%"
        tracker.flush()
        return Evaluation(accuracy, line, line + "\n", {}, artifacts)
    if one_seed:
        a, b = list(results)[:2]
        labels = data["official_test"][1]
        correct = {fw: results[fw][first_seed[fw]]["official_test"].predictions == labels for fw in (a, b)}
        ci = {fw: bootstrap_accuracy_ci(c, n_boot=n_boot) for fw, c in correct.items()}
        diff = bootstrap_difference_ci(correct[a], correct[b], n_boot=n_boot)
        comparison = build_comparison(accuracy, ci, diff, mcnemar_exact(correct[a], correct[b]), (a, b))
        tracker.log_text(parent_run_id, comparison.to_html(), layout.COMPARISON_HTML)
    else:
        per_seed = {fw: {s: r["official_test"].accuracy for s, r in by_seed.items()} for fw, by_seed in results.items()}
        comparison = compare_seeds(per_seed, margin)
    markdown, metrics = comparison.to_markdown(), comparison.metrics()
    tracker.log_metrics(parent_run_id, metrics)
    tracker.log_text(parent_run_id, markdown, layout.COMPARISON_MD)
    tracker.set_tags(parent_run_id, {"verdict": comparison.verdict})
    tracker.flush()
    return Evaluation(accuracy, comparison.verdict, markdown, metrics, artifacts)


def _log_figures(
    tracker: Tracker,
    parent_run_id: str,
    child_runs: Mapping[str, str],
    results: Mapping[str, Mapping[str, SplitMetrics]],
    official_test: tuple[np.ndarray, np.ndarray],
) -> list[str]:
    """Confusion matrices, per-class F1, learning curves and (with two frameworks) their disagreements, from one
    training per framework; return the artifact paths."""
    official = {fw: res["official_test"] for fw, res in results.items()}
    pngs = {
        layout.confusion_figure(fw): figures.confusion_matrix_png(
            m.confusion, f"{display_name(fw)}: official test confusion matrix"
        )
        for fw, m in official.items()
    }
    pngs[layout.PER_CLASS_F1_FIGURE] = figures.per_class_f1_png({display_name(fw): m.f1 for fw, m in official.items()})
    pngs[layout.LEARNING_CURVES_FIGURE] = figures.learning_curves_png(
        {
            display_name(fw): {k: tracker.metric_history(run, k) for k in figures.LEARNING_METRICS}
            for fw, run in child_runs.items()
        }
    )
    if len(official) >= 2:
        (a, first), (b, second) = list(official.items())[:2]
        pngs[layout.DISAGREEMENTS_FIGURE] = figures.disagreement_gallery_png(
            *official_test, first.predictions, second.predictions, display_name(a), display_name(b)
        )
    with tempfile.TemporaryDirectory() as tmp:
        for name, png in pngs.items():
            path = Path(tmp) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        tracker.log_artifact(parent_run_id, Path(tmp) / layout.FIGURES_DIR, layout.FIGURES_DIR)
    return sorted(pngs)
