"""One training of a pipeline, sweep or ablation (a pipeline is a sweep of one grid point), and what the trials of
one parent run share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fmnist.tracking.split_store import SplitRef

# What a sweep's grid may vary.
GRID_KEYS = frozenset({"dropout", "label_smoothing", "lr", "max_epochs"})


def value_label(value: float | str) -> str:
    """``0.003`` → ``0.003``, ``1e-05`` for small numbers; a categorical value as it is."""
    return value if isinstance(value, str) else f"{value:g}".replace("+", "")


def point_label(values: Mapping[str, float | str]) -> str:
    """``{"lr": 0.003, "dropout": 0.1}`` → ``lr-0.003_dropout-0.1``; no grid: ``preset``."""
    if not values:
        return "preset"
    return "_".join(f"{key}-{value_label(value)}" for key, value in values.items())


@dataclass(frozen=True)
class Trial:
    """A framework, a training seed and the config fields it overrides (``values``: a sweep's grid point such as
    ``{"lr": 0.003}``, or an ablation arm's switched factors; empty: the preset). ``arm`` names an ablation arm
    (it then names the trial instead of ``values``); ``split_seed`` picks one of the setup's splits (None: its
    default split); ``labels`` are extra tags of the child run."""

    framework: str
    seed: int
    values: dict[str, float | str] = field(default_factory=dict)
    arm: str = ""
    split_seed: int | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def point(self) -> str:
        """The grid point as a label that is also a valid MLflow key part: ``lr-0.003_dropout-0.1``."""
        return point_label(self.values)

    @property
    def name(self) -> str:
        """Unique within a parent run: ``torch-seed-42``, ``torch-lr-0.003-seed-42``,
        ``keras-bn_momentum-split-7-seed-42``; the child run's name and checkpoint folder."""
        point = f"-{self.arm}" if self.arm else f"-{self.point}" if self.values else ""
        split = f"-split-{self.split_seed}" if self.split_seed is not None else ""
        return f"{self.framework}{point}{split}-seed-{self.seed}"


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of one parent run shares: the splits, the recipe, where to track and checkpoint.

    ``max_epochs`` overrides the preset's; ``score_splits``: the splits each trial is scored on (None: all);
    ``split_dirs``: the split of each split seed a trial may name. A trial needs nothing from the flow's disk when
    ``published`` maps each split folder to its copy in the artifact store and ``checkpoint_root`` is None (the
    worker's cache).
    """

    split_dir: Path
    preset: str
    parent_run_id: str
    checkpoint_root: Path | None
    tracking_uri: str
    experiment: str | None = None
    max_epochs: int | None = None
    score_splits: tuple[str, ...] | None = None
    split_dirs: Mapping[int, Path] = field(default_factory=dict)
    published: Mapping[Path, SplitRef] = field(default_factory=dict)

    def split_of(self, trial: Trial) -> Path:
        """The flow's folder of the split ``trial`` trains and is scored on."""
        return self.split_dir if trial.split_seed is None else self.split_dirs[trial.split_seed]
