"""Hyperparameter sweeps: the trial plan, where trials run, the comparison across seeds, and the JSON summary every
flow that trains prints. Grid points are compared by mean ± std official-test accuracy over the seeds; each
framework's best point is chosen on validation accuracy.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fmnist.errors import FmnistError
from fmnist.evaluate.compare import display_name
from fmnist.evaluate.markdown import markdown_table
from fmnist.evaluate.stats import seed_summary
from fmnist.tracking import Tracker, layout
from fmnist.train.tracked import TrainSummary
from fmnist.train.trainers import FRAMEWORKS
from fmnist.train.trial import GRID_KEYS, Trial, point_label

# Every split but the 58,200 training images: scoring those for each trial would cost more than the rest of the
# evaluation and decide nothing.
SCORED_SPLITS = ("val", "test", "official_test")
T = TypeVar("T")


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
    """The scored sweep: its table (also as Markdown), the parent-run metrics and each framework's chosen point."""

    rows: list[GridRow]
    markdown: str
    metrics: dict[str, float]
    best: dict[str, str]

    def summary(self) -> dict[str, Any]:
        """The sweep's own part of its JSON summary."""
        table = [
            {"framework": r.framework, "values": r.values, "per_seed": r.per_seed, "mean": r.mean, "std": r.std}
            for r in self.rows
        ]
        return {"table": table, "best": dict(self.best), "comparison_markdown": self.markdown}


def plan_trials(
    frameworks: Sequence[str], seeds: Sequence[int], grid: Mapping[str, Sequence[float] | None]
) -> list[Trial]:
    """Every (framework, grid point, seed), frameworks outermost, seeds innermost. ``grid`` maps a key of
    :data:`GRID_KEYS` to its values (absent or ``None``: the preset's); repeated values count once."""
    unknown = sorted(set(grid) - GRID_KEYS)
    if unknown:
        raise FmnistError(f"cannot sweep {', '.join(unknown)}: choose from {', '.join(sorted(GRID_KEYS))}")
    if not frameworks or any(fw not in FRAMEWORKS for fw in frameworks):
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
    """The workers each framework's trials should prefer (``workers``: each worker, in order, with the frameworks
    it has imported), so that a worker sets up one framework rather than all (docs/design.md, "Sweeps on Dask").

    None (an empty mapping) when every worker has every framework already, or with fewer than two workers or than
    frameworks: a trial whose preferred workers all went away can wait on Dask for ever. Otherwise each framework
    gets a worker, spare ones go to the framework with the most trials per worker, and a framework takes the workers
    that imported it first, then those set up for the fewest others.
    """
    counts = Counter(t.framework for t in trials)  # in order of first appearance
    frameworks = list(counts)
    if not frameworks or all(set(frameworks) <= set(ready) for ready in workers.values()):
        return {}
    if len(workers) < max(2, len(frameworks)):
        return {}
    shares = dict.fromkeys(frameworks, 1)
    for _ in range(len(workers) - len(frameworks)):
        shares[max(frameworks, key=lambda fw: counts[fw] / shares[fw])] += 1
    prefer: dict[str, list[str]] = {}
    free = list(workers)
    for fw in frameworks:
        ranked = sorted(free, key=lambda address: (fw not in workers[address], len(workers[address])))
        prefer[fw] = ranked[: shares[fw]]
        free = [address for address in free if address not in prefer[fw]]
    return prefer


def aggregate(scores: Iterable[tuple[Trial, float]]) -> list[GridRow]:
    """Per framework × grid point (in order of first appearance), the mean and sample std (ddof=1) of the trials'
    accuracies over their seeds; a seed scored twice for one row is an error."""
    grouped: dict[tuple[str, str], tuple[dict[str, float], dict[int, float]]] = {}
    for trial, accuracy in scores:
        _, per_seed = grouped.setdefault((trial.framework, trial.point), (dict(trial.values), {}))
        if trial.seed in per_seed:
            raise FmnistError(f"trial {trial.name} was scored twice")
        per_seed[trial.seed] = float(accuracy)
    return [
        GridRow(framework, values, dict(sorted(per_seed.items())), *seed_summary(list(per_seed.values())))
        for (framework, _), (values, per_seed) in grouped.items()
    ]


def best_of_each(items: Iterable[T], framework: Callable[[T], str], score: Callable[[T], float]) -> dict[str, T]:
    """For each framework, the item with the highest ``score`` (the first of equals)."""
    by_framework: dict[str, list[T]] = {}
    for item in items:
        by_framework.setdefault(framework(item), []).append(item)
    return {fw: max(group, key=score) for fw, group in by_framework.items()}


def best_points(rows: Sequence[GridRow]) -> dict[str, GridRow]:
    """Each framework's row with the highest mean accuracy (the first of equals)."""
    return best_of_each(rows, lambda row: row.framework, lambda row: row.mean)


def choose_points(results: Sequence[TrainSummary], split: str = "val") -> dict[str, str]:
    """Each framework's best grid point by mean accuracy over seeds on ``split``: validation data, never the
    official test set that the table then reports."""
    rows = aggregate([(r.trial, r.accuracy(split)) for r in results if r.trial])
    return {fw: row.point for fw, row in best_points(rows).items()}


def sweep_markdown(rows: Sequence[GridRow], chosen: Mapping[str, str]) -> str:
    """The comparison table: one line per framework × grid point, each framework's chosen point in bold."""
    keys = list(dict.fromkeys(key for row in rows for key in row.values))
    table = []
    for row in rows:
        summary = f"{100 * row.mean:.2f} ± {100 * row.std:.2f}"
        per_seed = ", ".join(f"{seed}: {100 * acc:.2f}" for seed, acc in row.per_seed.items())
        table.append(
            [
                display_name(row.framework),
                *(f"{row.values[k]:g}" if k in row.values else "preset" for k in keys),
                len(row.per_seed),
                f"**{summary}**" if chosen.get(row.framework) == row.point else summary,
                per_seed,
            ]
        )
    header = ["Framework", *keys, "Seeds", "Official test, mean ± std", "Per seed"]
    lines = [markdown_table(header, table, ["---", *["---:"] * (len(keys) + 2)])]
    bests = "; ".join(
        f"{display_name(row.framework)}: {row.point} ({100 * row.mean:.2f} % official test)"
        for row in rows
        if chosen.get(row.framework) == row.point
    )
    chosen_by = "chosen by mean validation accuracy over seeds; the official test set only reports"
    return "\n".join([*lines, "", f"**Best grid point** ({chosen_by}): {bests}", ""])


def sweep_metrics(rows: Sequence[GridRow], chosen: Mapping[str, str]) -> dict[str, float]:
    """The table as parent-run metrics: ``sweep/<framework>/<point>/official_test_acc_{mean,std}``, and each
    framework's chosen point as ``sweep/<framework>/best_official_test_acc_mean``."""
    metrics: dict[str, float] = {}
    for row in rows:
        metrics[f"sweep/{row.framework}/{row.point}/official_test_acc_mean"] = row.mean
        metrics[f"sweep/{row.framework}/{row.point}/official_test_acc_std"] = row.std
        if chosen.get(row.framework) == row.point:
            metrics[f"sweep/{row.framework}/best_official_test_acc_mean"] = row.mean
    return metrics


def evaluate_sweep(tracker: Tracker, parent_run_id: str, results: Sequence[TrainSummary]) -> SweepEvaluation:
    """Compare the trials by the scores each got in its own worker; log the table on the parent run."""
    rows = aggregate([(r.trial, r.accuracy("official_test")) for r in results if r.trial])
    best = choose_points(results)
    evaluation = SweepEvaluation(rows, sweep_markdown(rows, best), sweep_metrics(rows, best), best)
    tracker.log_metrics(parent_run_id, evaluation.metrics)
    tracker.log_text(parent_run_id, evaluation.markdown, layout.SWEEP_MD)
    tracker.set_tags(parent_run_id, {f"sweep.best.{fw}": point for fw, point in best.items()})
    tracker.flush()
    return evaluation


def run_summary(
    parent_run_id: str,
    tracking_uri: str,
    results: Sequence[TrainSummary],
    timings: Mapping[str, float],
    **fields: Any,
) -> dict[str, Any]:
    """The JSON summary of a flow that trained (what ``--json`` prints last): its parent run, one record per
    trained trial (what it was, where and when it ran, what it scored), the flow's own ``fields``, the timings."""
    trials = [
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
    return {
        "parent_run_id": parent_run_id,
        "tracking_uri": tracking_uri,
        "trials": trials,
        **fields,
        "timings": dict(timings),
    }
