"""One training of a pipeline, sweep or ablation: a framework, a seed and the values it overrides.

A pipeline is a sweep of one grid point: every training, wherever it runs, is a :class:`Trial`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# What a grid may vary, and which config each value overrides.
MODEL_KEYS = frozenset({"dropout"})
TRAIN_KEYS = frozenset({"lr"})
GRID_KEYS = MODEL_KEYS | TRAIN_KEYS


def point_label(values: Mapping[str, float]) -> str:
    """``{"lr": 0.003, "dropout": 0.1}`` → ``lr-0.003_dropout-0.1``; no grid: ``preset``."""
    if not values:
        return "preset"
    return "_".join(f"{key}-{value:g}".replace("+", "") for key, value in values.items())


@dataclass(frozen=True)
class Trial:
    """A framework, a training seed and a grid point (``values``, e.g. ``{"lr": 0.003}``; empty: the preset)."""

    framework: str
    seed: int
    values: dict[str, float] = field(default_factory=dict)

    @property
    def point(self) -> str:
        """The grid point as a label that is also a valid MLflow key part: ``lr-0.003_dropout-0.1``."""
        return point_label(self.values)

    @property
    def name(self) -> str:
        """Unique within a parent run: ``torch-seed-42``, ``torch-lr-0.003-seed-42``; the child run's name and
        checkpoint folder."""
        point = f"-{self.point}" if self.values else ""
        return f"{self.framework}{point}-seed-{self.seed}"

    def model_overrides(self) -> dict[str, float]:
        return {k: v for k, v in self.values.items() if k in MODEL_KEYS}

    def train_overrides(self) -> dict[str, float]:
        return {k: v for k, v in self.values.items() if k in TRAIN_KEYS}


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of one parent run shares: the splits, the recipe, where to track and checkpoint.

    ``max_epochs`` overrides the preset's; ``score_splits`` limits which splits each trial is scored on
    (None: all of them).
    """

    split_dir: Path
    preset: str
    parent_run_id: str
    checkpoint_root: Path
    tracking_uri: str
    experiment: str | None = None
    max_epochs: int | None = None
    score_splits: tuple[str, ...] | None = None
