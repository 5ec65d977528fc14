"""A pipeline is a sweep of one grid point: its trials compared, each framework's best seed chosen on validation for
the registry, and its JSON summary (what ``fmnist run --json`` prints)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fmnist.data.manifest import read_manifest
from fmnist.evaluate.compare import SPLITS
from fmnist.evaluate.scoring import DEFAULT_EQUIVALENCE_MARGIN, Evaluation, evaluate_runs
from fmnist.experiments.sweep import best_of_each
from fmnist.registry.registration import Registration
from fmnist.tracking import Tracker
from fmnist.train.tracked import TrainSummary


def evaluate_pipeline(
    tracker: Tracker,
    parent_run_id: str,
    results: Sequence[TrainSummary],
    split_dir: Path,
    margin: float = DEFAULT_EQUIVALENCE_MARGIN,
) -> Evaluation:
    """:func:`~fmnist.evaluate.scoring.evaluate_runs` on the pipeline's trials, each scored already in its worker."""
    runs: dict[str, dict[int, str]] = {}
    for r in results:
        runs.setdefault(r.framework, {})[r.seed] = r.run_id
    scored = {r.run_id: r.scores for r in results if r.scores}
    return evaluate_runs(tracker, parent_run_id, runs, split_dir, scored=scored, margin=margin)


def best_per_framework(trained: Sequence[TrainSummary], split: str = "val") -> dict[str, TrainSummary]:
    """For each framework, the training to register: the best accuracy on ``split``, chosen on validation data,
    never on the official test set that is then reported as unbiased."""
    return best_of_each(trained, lambda t: t.framework, lambda t: t.accuracy(split))


def pipeline_summary(
    split_dir: Path,
    trained: Mapping[str, TrainSummary],
    evaluation: Evaluation,
    registrations: Sequence[Registration],
) -> dict[str, Any]:
    """The pipeline's own part of its JSON summary: splits, each registered training, verdict and registrations."""
    registered = [{k: v for k, v in asdict(r).items() if k != "model_uri"} for r in registrations]
    frameworks = {
        fw: {
            "run_id": s.run_id,
            "seed": s.seed,
            "model_uri": s.model_uri,
            "best_epoch": s.best_epoch,
            "stopped_epoch": s.stopped_epoch,
            "train_seconds": s.timings.get("train"),
            "timings": dict(s.timings),
            "metrics": {key: evaluation.accuracy.get(fw, {}).get(key) for key in SPLITS},
            "registered": [r for r in registered if r["name"].endswith(f"-{fw}")],
        }
        for fw, s in trained.items()
    }
    splits = read_manifest(split_dir, verify=False).splits
    return {
        "splits": {
            name: {"path": str(Path(split_dir) / info.file), "rows": info.rows, "sha256": info.sha256}
            for name, info in splits.items()
        },
        "frameworks": frameworks,
        "verdict": evaluation.verdict,
        "comparison_markdown": evaluation.markdown,
        "registered": registered,
    }
