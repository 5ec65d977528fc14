"""Hyperparameter sweeps: the trial plan, where trials run, and the comparison across seeds.

A sweep trains every (framework, grid point, seed) once, each as its own child run of the sweep's parent run
(:func:`fmnist.train.tracked.run_trial`), and compares the grid points by the mean ± std of their official-test
accuracy over the seeds. The plan and the aggregation are pure functions; :func:`evaluate_sweep` logs them.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fmnist.errors import FmnistError
from fmnist.evaluate.compare import display_name
from fmnist.evaluate.stats import seed_summary
from fmnist.tracking import Tracker, layout
from fmnist.train.tracked import TrainSummary
from fmnist.train.trainers import FRAMEWORKS
from fmnist.train.trial import GRID_KEYS, Trial, point_label

# The sweep's comparison uses every split but the 58,200 training images: scoring those for each trial would
# cost more than the rest of the evaluation and decide nothing.
SCORED_SPLITS = ("val", "test", "official_test")


@dataclass(frozen=True)
class GridRow:
    """One framework × grid point, summarised over its seeds (accuracies as fractions)."""

    framework: str
    values: dict[str, float]
    per_seed: dict[int, float]
    mean: float
    std: float

    @property
    def point(self) -> str:
        return point_label(self.values)


@dataclass(frozen=True)
class SweepEvaluation:
    """The scored sweep: its table (also as Markdown), the parent-run metrics and the best grid points."""

    rows: list[GridRow]
    markdown: str
    metrics: dict[str, float]
    best: dict[str, str]  # framework → best grid point


def plan_trials(
    frameworks: Sequence[str], seeds: Sequence[int], grid: Mapping[str, Sequence[float] | None]
) -> list[Trial]:
    """Every (framework, grid point, seed), frameworks outermost, seeds innermost.

    ``grid`` maps a key of :data:`GRID_KEYS` to its values; a key that is absent or ``None`` keeps the
    preset's value. Duplicate values are dropped, order is kept.
    """
    unknown = sorted(set(grid) - GRID_KEYS)
    if unknown:
        raise FmnistError(f"cannot sweep {', '.join(unknown)}: choose from {', '.join(sorted(GRID_KEYS))}")
    bad = [fw for fw in frameworks if fw not in FRAMEWORKS]
    if bad or not frameworks:
        raise FmnistError(f"frameworks {list(frameworks)!r}: choose from {', '.join(FRAMEWORKS)}")
    if not seeds:
        raise FmnistError("a sweep needs at least one seed")
    axes = {key: list(dict.fromkeys(values)) for key, values in grid.items() if values is not None}
    empty = [key for key, values in axes.items() if not values]
    if empty:
        raise FmnistError(f"grid {', '.join(empty)}: give at least one value or leave it out")
    points = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    return [
        Trial(fw, seed, point) for fw in dict.fromkeys(frameworks) for point in points for seed in dict.fromkeys(seeds)
    ]


def framework_workers(trials: Sequence[Trial], workers: Mapping[str, Collection[str]]) -> dict[str, list[str]]:
    """The workers each framework's trials should prefer, so that a worker process sets up one framework
    rather than all of them (importing TensorFlow or PyTorch and their first training step cost seconds in every
    process, as much as a short trial itself).

    ``workers`` maps each worker, in order, to the frameworks it has already imported. If every worker has
    imported every framework of ``trials`` (a preloaded, long-lived cluster), there is nothing to save and no
    preference: each trial goes to whichever worker is free, which balances the load best. Otherwise each
    framework gets at least one worker and the spare ones go to whichever framework has the most trials per
    worker; a framework takes the workers that have imported it first, then those set up for the fewest others,
    then the given order. A single worker, fewer workers than frameworks, or no trials: no preference (an empty
    mapping).

    A preference names workers by address, and Dask gives a worker it restarts a new address. A trial whose
    preferred workers are gone runs on any other worker, but if no worker at all was up when it lost its own,
    Dask keeps it waiting for the old address for ever; so a single worker, which could only prefer itself, gets
    no preference, and its lost trial runs again on the worker that replaces it.
    """
    counts = Counter(t.framework for t in trials)  # in order of first appearance
    frameworks = list(counts)
    if not workers or not frameworks:
        return {}
    if all(set(frameworks) <= set(ready) for ready in workers.values()):
        return {}
    addresses = list(workers)
    if len(addresses) < max(2, len(frameworks)):
        return {}
    shares = dict.fromkeys(frameworks, 1)
    for _ in range(len(addresses) - len(frameworks)):
        busiest = max(frameworks, key=lambda fw: counts[fw] / shares[fw])
        shares[busiest] += 1
    prefer: dict[str, list[str]] = {}
    free = addresses
    for fw in frameworks:
        ranked = sorted(free, key=lambda address: (fw not in workers[address], len(workers[address])))
        prefer[fw] = ranked[: shares[fw]]
        free = [address for address in free if address not in prefer[fw]]
    return prefer


def aggregate(scores: Iterable[tuple[Trial, float]]) -> list[GridRow]:
    """Group per-trial accuracies by framework × grid point; mean and sample std (ddof=1) over the seeds.

    Rows keep the order in which each framework × grid point first appears. A seed seen twice for the same
    row is an error (two trials were scored as one).
    """
    grouped: dict[tuple[str, str], tuple[dict[str, float], dict[int, float]]] = {}
    for trial, accuracy in scores:
        values, per_seed = grouped.setdefault((trial.framework, trial.point), (dict(trial.values), {}))
        if trial.seed in per_seed:
            raise FmnistError(f"trial {trial.name} was scored twice")
        per_seed[trial.seed] = float(accuracy)
    rows = []
    for (framework, _), (values, per_seed) in grouped.items():
        mean, std = seed_summary(list(per_seed.values()))
        rows.append(GridRow(framework, values, dict(sorted(per_seed.items())), mean, std))
    return rows


def best_points(rows: Sequence[GridRow]) -> dict[str, GridRow]:
    """Each framework's row with the highest mean accuracy (the first of equals)."""
    best: dict[str, GridRow] = {}
    for row in rows:
        if row.framework not in best or row.mean > best[row.framework].mean:
            best[row.framework] = row
    return best


def choose_points(results: Sequence[TrainSummary], split: str = "val") -> dict[str, str]:
    """Each framework's best grid point (label) by mean accuracy over seeds on ``split``: validation data, never
    the official test set that the table then reports."""
    rows = aggregate([(r.trial, r.accuracy(split)) for r in results if r.trial])
    return {fw: row.point for fw, row in best_points(rows).items()}


def chosen_rows(rows: Sequence[GridRow], chosen: Mapping[str, str]) -> dict[str, GridRow]:
    """The rows of the grid points ``chosen`` for each framework (framework → point label)."""
    return {row.framework: row for row in rows if chosen.get(row.framework) == row.point}


def sweep_markdown(rows: Sequence[GridRow], chosen: Mapping[str, str]) -> str:
    """The comparison table: one line per framework × grid point, each framework's chosen point in bold."""
    keys = list(dict.fromkeys(key for row in rows for key in row.values))
    best = {id(row) for row in chosen_rows(rows, chosen).values()}
    lines = [
        "| Framework | " + "".join(f"{k} | " for k in keys) + "Seeds | Official test, mean ± std | Per seed |",
        "|---|" + "---:|" * len(keys) + "---:|---:|---|",
    ]
    for row in rows:
        cells = "".join(f"{row.values[k]:g} | " if k in row.values else "preset | " for k in keys)
        summary = f"{100 * row.mean:.2f} ± {100 * row.std:.2f}"
        if id(row) in best:
            summary = f"**{summary}**"
        per_seed = ", ".join(f"{seed}: {100 * acc:.2f}" for seed, acc in row.per_seed.items())
        lines.append(f"| {display_name(row.framework)} | {cells}{len(row.per_seed)} | {summary} | {per_seed} |")
    bests = "; ".join(
        f"{display_name(fw)}: {row.point} ({100 * row.mean:.2f} % official test)"
        for fw, row in chosen_rows(rows, chosen).items()
    )
    chosen_by = "chosen by mean validation accuracy over seeds; the official test set only reports"
    return "\n".join([*lines, "", f"**Best grid point** ({chosen_by}): {bests}", ""])


def sweep_metrics(rows: Sequence[GridRow], chosen: Mapping[str, str]) -> dict[str, float]:
    """The table as parent-run metrics: ``sweep/<framework>/<point>/official_test_acc_{mean,std}``."""
    metrics: dict[str, float] = {}
    for row in rows:
        metrics[f"sweep/{row.framework}/{row.point}/official_test_acc_mean"] = row.mean
        metrics[f"sweep/{row.framework}/{row.point}/official_test_acc_std"] = row.std
    for fw, row in chosen_rows(rows, chosen).items():
        metrics[f"sweep/{fw}/best_official_test_acc_mean"] = row.mean
    return metrics


def evaluate_sweep(tracker: Tracker, parent_run_id: str, results: Sequence[TrainSummary]) -> SweepEvaluation:
    """Compare the trials by the scores each got in its own worker; log the sweep's table on the parent run.

    Each framework's best grid point is chosen on validation accuracy; the table reports official-test accuracy,
    which chooses nothing.
    """
    rows = aggregate([(r.trial, r.accuracy("official_test")) for r in results if r.trial])
    best = choose_points(results)
    markdown = sweep_markdown(rows, best)
    metrics = sweep_metrics(rows, best)
    tracker.log_metrics(parent_run_id, metrics)
    tracker.log_text(parent_run_id, markdown, layout.SWEEP_MD)
    tracker.set_tags(parent_run_id, {f"sweep.best.{fw}": point for fw, point in best.items()})
    tracker.flush()
    return SweepEvaluation(rows, markdown, metrics, best)


def trial_records(results: Sequence[TrainSummary]) -> list[dict[str, Any]]:
    """One JSON-ready record per trained trial: what it was, where and when it ran, what it scored."""
    return [
        {
            "name": r.trial.name if r.trial else r.framework,
            "framework": r.framework,
            "seed": r.seed,
            "values": dict(r.trial.values) if r.trial else {},
            "arm": r.trial.arm if r.trial else "",
            "run_id": r.run_id,
            "best_epoch": r.best_epoch,
            "seconds": r.seconds,
            "timings": dict(r.timings),
            "worker_pid": r.worker_pid,
            "worker_host": r.worker_host,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "official_test/acc": r.accuracy("official_test"),
        }
        for r in results
    ]


def sweep_summary(
    parent_run_id: str,
    tracking_uri: str,
    results: Sequence[TrainSummary],
    evaluation: SweepEvaluation,
    timings: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The JSON summary of one sweep (what ``fmnist sweep --json`` prints)."""
    return {
        "parent_run_id": parent_run_id,
        "tracking_uri": tracking_uri,
        "trials": trial_records(results),
        "table": [
            {"framework": r.framework, "values": r.values, "per_seed": r.per_seed, "mean": r.mean, "std": r.std}
            for r in evaluation.rows
        ],
        "best": dict(evaluation.best),
        "comparison_markdown": evaluation.markdown,
        "timings": dict(timings or {}),
    }
