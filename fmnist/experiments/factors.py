"""The framework defaults the reference study left in place, as ablation factors: each a name and two levels, a
level being a set of config overrides. The levels and what switching does: docs/ablation.md, "Factors"; the
``parity`` preset is every factor at its ``parity`` level (`fmnist.config`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fmnist.errors import FmnistError

DEFAULT_MARGIN = 0.5  # points of accuracy: an effect inside ±0.5 pt counts as no effect

Overrides = Mapping[str, float | str]


@dataclass(frozen=True)
class Factor:
    """One difference between the two frameworks' trainings. ``levels``: exactly two, level name → config overrides,
    named after the frameworks for a framework default, else the reference level first. ``only``: the one framework
    whose trainer can take the other level (None: both). ``about``: what the levels are, in a line."""

    name: str
    levels: Mapping[str, Overrides]
    parity: str
    about: str
    only: str | None = None

    def own(self, framework: str) -> str:
        """The level of ``framework``'s own defaults."""
        return framework if framework in self.levels else next(iter(self.levels))

    def switched(self, framework: str) -> str:
        """The level switching puts ``framework`` at."""
        return next(level for level in self.levels if level != self.own(framework))

    def switches(self, framework: str) -> bool:
        """Whether ``framework``'s trainer implements the other level."""
        return self.only in (None, framework)

    def direction(self, framework: str) -> str:
        """``keras_to_torch``, ``torch_to_shared``...: which framework moves to which level."""
        return f"{framework}_to_{self.switched(framework)}"


def factor_table() -> tuple[Factor, ...]:
    """Every factor, in the order arms and tables list them (a function, so nothing can mutate the table)."""
    return (
        Factor("init", {"reference": {"init": "reference"}, "shared": {"init": "shared"}}, "shared",
               "each framework's own initial draw (Keras He-normal kernels; PyTorch nn.Linear's uniform kernels and "
               "biases) or one numpy He-normal draw with zero biases loaded into both"),
        Factor("batch_order", {"reference": {"batch_order": "per_framework"}, "shared": {"batch_order": "shared"}},
               "shared", "each framework's own shuffle every epoch or one shared permutation"),
        Factor("bn_momentum", {"keras": {"bn_momentum": 0.01}, "torch": {"bn_momentum": 0.1}}, "keras",
               "BatchNorm's weight of the new batch in its moving averages (Keras momentum 0.99 ≙ 0.01)"),
        Factor("bn_epsilon", {"keras": {"bn_epsilon": 1e-3}, "torch": {"bn_epsilon": 1e-5}}, "keras",
               "BatchNorm epsilon"),
        Factor("bn_variance", {"keras": {"bn_variance": "biased"}, "torch": {"bn_variance": "framework"}}, "keras",
               "the batch variance BatchNorm's moving variance averages: biased (Keras) or unbiased (PyTorch); "
               "Keras has no unbiased one", only="torch"),
        Factor("adam_epsilon", {"keras": {"adam_epsilon": 1e-7}, "torch": {"adam_epsilon": 1e-8}}, "keras",
               "Adam epsilon"),
        Factor("adam_epsilon_placement", {"keras": {"adam_epsilon_placement": "before_bias_correction"},
                                          "torch": {"adam_epsilon_placement": "framework"}}, "keras",
               "Adam adds epsilon before (Keras) or after (PyTorch) the bias correction; Keras's Adam has no other "
               "placement", only="torch"),
        Factor("output", {"keras": {"output": "softmax"}, "torch": {"output": "logits"}}, "torch",
               "a softmax output trained on probabilities (Keras) or logits (PyTorch); PyTorch's model has no "
               "softmax output, and Keras 3 computes that loss from the logits its softmax layer keeps",
               only="keras"),
    )  # fmt: skip


def parity_overrides() -> dict[str, float | str]:
    """Every factor at its parity level: what turns the ``seed`` preset into ``parity``."""
    return {key: value for f in factor_table() for key, value in f.levels[f.parity].items()}


def select_factors(names: Sequence[str] | None = None) -> tuple[Factor, ...]:
    """The factors called ``names``, in table order (None: every factor); FmnistError for an unknown or repeated
    name, or none at all."""
    table = factor_table()
    if names is None:
        return table
    known = [f.name for f in table]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise FmnistError(f"unknown factor {', '.join(map(repr, unknown))}; choose from {', '.join(known)}")
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise FmnistError(f"factor {', '.join(map(repr, repeated))} listed twice; name each factor once")
    if not names:
        raise FmnistError(f"no factor given; choose from {', '.join(known)}")
    return tuple(f for f in table if f.name in names)
