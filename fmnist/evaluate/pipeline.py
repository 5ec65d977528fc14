"""What a pipeline makes of its scored trials: the comparison, the trainings to register, its JSON summary
(what ``fmnist run --json`` prints last)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fmnist.data.manifest import read_manifest
from fmnist.evaluate.metrics import SplitMetrics
from fmnist.evaluate.scoring import DEFAULT_EQUIVALENCE_MARGIN, Evaluation, evaluate, evaluate_seeds
from fmnist.registry.registration import Registration
from fmnist.tracking import Tracker
from fmnist.train.tracked import TrainSummary


def pipeline_summary(
    parent_run_id: str,
    tracking_uri: str,
    split_dir: Path,
    trained: Mapping[str, TrainSummary],
    evaluation: Evaluation,
    registrations: Sequence[Registration],
    timings: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Everything a script needs to find the results again: runs, metrics, splits and registered versions."""
    manifest = read_manifest(split_dir, verify=False)
    frameworks: dict[str, Any] = {}
    for fw, s in trained.items():
        acc = evaluation.accuracy.get(fw, {})
        own = [r for r in registrations if r.name.endswith(f"-{fw}")]
        frameworks[fw] = {
            "run_id": s.run_id,
            "seed": s.seed,
            "model_uri": s.model_uri,
            "best_epoch": s.best_epoch,
            "stopped_epoch": s.stopped_epoch,
            "train_seconds": s.timings.get("train"),
            "timings": dict(s.timings),
            "metrics": {key: acc.get(key) for key in ("train/acc", "val/acc", "test/acc", "official_test/acc")},
            "registered": [_registration(r) for r in own],
        }
    return {
        "parent_run_id": parent_run_id,
        "tracking_uri": tracking_uri,
        "splits": {
            name: {"path": str(Path(split_dir) / info.file), "rows": info.rows, "sha256": info.sha256}
            for name, info in manifest.splits.items()
        },
        "frameworks": frameworks,
        "verdict": evaluation.verdict,
        "comparison_markdown": evaluation.markdown,
        "registered": [_registration(r) for r in registrations],
        "timings": dict(timings or {}),
    }


def best_per_framework(trained: Sequence[TrainSummary], split: str = "val") -> dict[str, TrainSummary]:
    """For each framework, the training to register: the best accuracy on ``split`` (the first of equals).

    The choice is made on validation data, never on the official test set that is then reported as unbiased.
    """
    best: dict[str, TrainSummary] = {}
    for t in trained:
        if t.framework not in best or t.accuracy(split) > best[t.framework].accuracy(split):
            best[t.framework] = t
    return best


def _registration(r: Registration) -> dict[str, Any]:
    return {
        "name": r.name,
        "version": r.version,
        "framework": r.framework,
        "aliases": r.aliases,
        "promoted": r.promoted,
        "reason": r.reason,
        "official_test_acc": r.official_test_acc,
    }


def evaluate_runs(
    tracker: Tracker,
    parent_run_id: str,
    runs: Mapping[str, Mapping[int, str]],
    split_dir: Path,
    *,
    scored: Mapping[str, Mapping[str, SplitMetrics]] | None = None,
    margin: float = DEFAULT_EQUIVALENCE_MARGIN,
) -> Evaluation:
    """Compare the frameworks of a parent run's trainings (framework → seed → run id): two models image by image
    when each framework trained once (:func:`evaluate`), the frameworks across seeds, with an equivalence test at
    ±``margin``, when each trained with several (:func:`evaluate_seeds`). ``scored``: runs scored already."""
    if all(len(by_seed) == 1 for by_seed in runs.values()):
        single = {fw: next(iter(by_seed.values())) for fw, by_seed in runs.items()}
        return evaluate(tracker, parent_run_id, single, split_dir, scored=scored)
    return evaluate_seeds(tracker, parent_run_id, runs, split_dir, scored=scored, margin=margin)


def evaluate_trials(
    tracker: Tracker,
    parent_run_id: str,
    results: Sequence[TrainSummary],
    split_dir: Path,
    margin: float = DEFAULT_EQUIVALENCE_MARGIN,
) -> Evaluation:
    """:func:`evaluate_runs` on a flow's scored trials."""
    runs: dict[str, dict[int, str]] = {}
    for r in results:
        runs.setdefault(r.framework, {})[r.seed] = r.run_id
    scored = {r.run_id: r.scores for r in results if r.scores}
    return evaluate_runs(tracker, parent_run_id, runs, split_dir, scored=scored, margin=margin)
