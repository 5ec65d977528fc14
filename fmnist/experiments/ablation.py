"""An ablation of the framework defaults: which of them, if any, makes Keras and PyTorch train differently.

Arms, trials and the analysis: docs/ablation.md ("Design", "Analysis"). Nothing is chosen on the official test set:
it is only reported.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fmnist.errors import FmnistError
from fmnist.evaluate.compare import display_name
from fmnist.evaluate.markdown import markdown_table
from fmnist.evaluate.stats import holm, min_detectable_difference, seed_summary, tost_p_value, welch_test
from fmnist.experiments.factors import DEFAULT_MARGIN, Factor, factor_table
from fmnist.tracking import Tracker, layout
from fmnist.train.tracked import TrainSummary
from fmnist.train.trainers import FRAMEWORKS
from fmnist.train.trial import Trial

BASELINE, ALL, FRAMEWORK = "baseline", "all", "framework"
ALPHA, POWER, LEVEL = 0.05, 0.8, 0.95
# Framework rows: (direction, Keras's arm, PyTorch's arm); the effect is Keras minus PyTorch.
FRAMEWORK_ROWS = (
    ("own_defaults", BASELINE, BASELINE),
    ("at_keras_settings", BASELINE, ALL),
    ("at_torch_settings", ALL, BASELINE),
    ("all_switched", ALL, ALL),
)


def _other(framework: str) -> str:
    return next(fw for fw in FRAMEWORKS if fw != framework)


@dataclass(frozen=True)
class Arm:
    """A framework with the factors in ``switched`` at the other level, the rest at its own."""

    framework: str
    name: str  # baseline, a factor's name, or all
    switched: tuple[Factor, ...] = ()

    @property
    def direction(self) -> str:
        """``keras_to_torch`` ...; the baseline has none."""
        if self.name == BASELINE:
            return ""
        if self.name == ALL:
            return f"{self.framework}_to_{_other(self.framework)}"
        return self.switched[0].direction(self.framework)

    def values(self) -> dict[str, float | str]:
        """The config overrides of the switched levels."""
        return {k: v for f in self.switched for k, v in f.levels[f.switched(self.framework)].items()}

    def labels(self) -> dict[str, str]:
        """Tags of the arm's child runs: its direction and every factor's level."""
        switched = {f.name for f in self.switched}
        levels = {
            f"factor.{f.name}": f.switched(self.framework) if f.name in switched else f.own(self.framework)
            for f in factor_table()
        }
        return {"direction": self.direction, **levels} if self.direction else levels


def ablation_arms(factors: Sequence[Factor]) -> list[Arm]:
    """Per framework: its baseline, one arm per factor it can switch, then every such factor switched."""
    arms = []
    for fw in FRAMEWORKS:
        own = tuple(f for f in factors if f.switches(fw))
        arms += [Arm(fw, BASELINE), *(Arm(fw, f.name, (f,)) for f in own), Arm(fw, ALL, own)]
    return arms


def plan_ablation(factors: Sequence[Factor], seeds: Sequence[int], split_seeds: Sequence[int] = ()) -> list[Trial]:
    """Every arm × split seed × training seed. With fewer than two split seeds the trials use the setup's split
    (their ``split_seed`` is None)."""
    seeds = list(dict.fromkeys(seeds))
    if len(seeds) < 2:
        raise FmnistError(f"an ablation needs at least 2 seeds per arm to estimate its spread, got {len(seeds)}")
    splits = list(dict.fromkeys(split_seeds))
    splits_or_none: list[int | None] = [*splits] if len(splits) > 1 else [None]
    return [
        Trial(arm.framework, seed, arm.values(), arm.name, split, arm.labels())
        for arm in ablation_arms(factors)
        for split in splits_or_none
        for seed in seeds
    ]


@dataclass(frozen=True)
class ArmScores:
    """An arm's official-test accuracies (fractions) by trial name, and the trials planned but not scored."""

    framework: str
    arm: str
    scores: dict[str, float]
    missing: tuple[str, ...] = ()

    def points(self) -> list[float]:
        return [100.0 * acc for acc in self.scores.values()]


def arm_scores(planned: Sequence[Trial], scored: Mapping[str, float]) -> dict[tuple[str, str], ArmScores]:
    """Group the scores (trial name → accuracy) by (framework, arm); a planned trial without a finite score is
    missing from its arm, never dropped silently."""
    grouped: dict[tuple[str, str], tuple[dict[str, float], list[str]]] = {}
    for t in planned:
        scores, missing = grouped.setdefault((t.framework, t.arm), ({}, []))
        acc = scored.get(t.name, math.nan)
        if math.isfinite(acc):
            scores[t.name] = float(acc)
        else:
            missing.append(t.name)
    return {key: ArmScores(*key, scores, tuple(missing)) for key, (scores, missing) in grouped.items()}


@dataclass(frozen=True)
class Effect:
    """One comparison, in points of official-test accuracy: ``arm`` minus ``reference`` (NaN where either has
    fewer than two trials). ``mde``: the smallest effect the trials could detect."""

    factor: str  # a factor's name, all, or framework
    direction: str
    arm: ArmScores
    reference: ArmScores
    estimate: float = math.nan
    low: float = math.nan
    high: float = math.nan
    p: float = math.nan
    p_holm: float = math.nan
    p_tost: float = math.nan
    mde: float = math.nan
    verdict: str = "too few trials"

    @property
    def measured(self) -> bool:
        return not math.isnan(self.p)

    def numbers(self) -> dict[str, float]:
        """The estimates under their metric and table names (points; p-values as they are)."""
        return {
            "effect_pt": self.estimate,
            "ci_low": self.low,
            "ci_high": self.high,
            "p_holm": self.p_holm,
            "p_tost": self.p_tost,
            "detectable_pt": self.mde,
        }


def _compare(factor: str, direction: str, arm: ArmScores, reference: ArmScores, margin: float) -> Effect:
    effect = Effect(factor, direction, arm, reference)
    ref, new = reference.points(), arm.points()
    if len(ref) < 2 or len(new) < 2:
        return effect
    ci, p = welch_test(ref, new, LEVEL)
    tost, mde = tost_p_value(ref, new, margin), min_detectable_difference(ref, new, ALPHA, POWER)
    return replace(effect, estimate=ci.estimate, low=ci.low, high=ci.high, p=p, p_tost=tost, mde=mde)


def verdict(p_holm: float, p_tost: float, margin: float, alpha: float = ALPHA) -> str:
    """``different`` (Holm-adjusted p below alpha), ``equivalent within ±m pt`` (TOST below alpha), both, or
    ``inconclusive``."""
    different, equivalent = p_holm < alpha, p_tost < alpha
    if different and equivalent:
        return f"different, but within ±{margin:g} pt"
    if different:
        return "different"
    return f"equivalent within ±{margin:g} pt" if equivalent else "inconclusive"


def ablation_effects(
    arms: Mapping[tuple[str, str], ArmScores], factors: Sequence[Factor], margin: float = DEFAULT_MARGIN
) -> list[Effect]:
    """Every factor (and all of them) switched, per framework, against its baseline; then the framework rows.
    Holm's adjustment runs over every comparison that has enough trials."""
    if margin <= 0.0:
        raise FmnistError(f"margin {margin:g}: give a positive number of accuracy points, e.g. 0.5")
    rows = [
        _compare(a.name, a.direction, arms[(a.framework, a.name)], arms[(a.framework, BASELINE)], margin)
        for a in ablation_arms(factors)
        if a.name != BASELINE
    ]
    keras, torch = FRAMEWORKS
    for direction, keras_arm, torch_arm in FRAMEWORK_ROWS:
        rows.append(_compare(FRAMEWORK, direction, arms[(keras, keras_arm)], arms[(torch, torch_arm)], margin))
    measured = [r for r in rows if r.measured]
    adjusted = dict(zip(map(id, measured), holm([r.p for r in measured]), strict=True))
    return [
        replace(r, p_holm=adjusted[id(r)], verdict=verdict(adjusted[id(r)], r.p_tost, margin)) if r.measured else r
        for r in rows
    ]


def _n(effect: Effect) -> str:
    missing = len(effect.arm.missing) + len(effect.reference.missing)
    text = f"{len(effect.arm.scores)} vs {len(effect.reference.scores)}"
    return f"{text} ({missing} missing)" if missing else text


def _p(p: float) -> str:
    return "—" if math.isnan(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def effect_rows(effects: Sequence[Effect]) -> list[dict[str, Any]]:
    """The effects as plain rows (None where not measured): the Prefect table and the JSON summary."""
    return [
        {"factor": e.factor, "direction": e.direction, "trials": _n(e)}
        | {key: None if math.isnan(value) else round(value, 4) for key, value in e.numbers().items()}
        | {"verdict": e.verdict, "missing": [*e.arm.missing, *e.reference.missing]}
        for e in effects
    ]


def ablation_markdown(effects: Sequence[Effect], arms: Mapping[tuple[str, str], ArmScores], margin: float) -> str:
    """The effects table, then the arms it compares."""
    n = sum(e.measured for e in effects)
    lines = [
        "Official-test accuracy, in points. Factor rows: the framework with the factor switched minus its own "
        "defaults; framework rows: Keras minus PyTorch. 95% Welch intervals over the trials; p Holm-adjusted over "
        f"the {n} comparisons; TOST equivalence at ±{margin:g} pt; the smallest effect the trials could detect "
        f"(power {POWER:.0%}, alpha {ALPHA:g}).",
        "",
    ]
    rows = [
        [e.factor, e.direction, _n(e)]
        + ([f"{e.estimate:+.2f}", f"[{e.low:+.2f}, {e.high:+.2f}]"] if e.measured else ["—", "—"])
        + [_p(e.p_holm), _p(e.p_tost), f"{e.mde:.2f}" if e.measured else "—", e.verdict]
        for e in effects
    ]
    header = ["Factor", "Direction", "Trials", "Effect", "95% CI", "p (Holm)", "TOST p", "Detectable", "Verdict"]
    lines.append(markdown_table(header, rows, ["---", "---", "---:", "---:", "---", "---:", "---:", "---:"]))
    arm_rows = []
    for a in arms.values():
        spread = "{:.2f} ± {:.2f}".format(*seed_summary(a.points())) if a.scores else "—"
        arm_rows.append([display_name(a.framework), a.arm, len(a.scores), ", ".join(a.missing) or "none", spread])
    header = ["Framework", "Arm", "Trials", "Missing", "Mean ± std, %"]
    lines += ["", markdown_table(header, arm_rows, ["---", "---", "---:", "---", "---:"])]
    return "\n".join([*lines, ""])


def ablation_metrics(effects: Sequence[Effect]) -> dict[str, float]:
    """Parent-run metrics ``ablation/<factor>/<direction>/<number>`` of every measured comparison."""
    return {f"ablation/{e.factor}/{e.direction}/{k}": v for e in effects if e.measured for k, v in e.numbers().items()}


@dataclass(frozen=True)
class AblationEvaluation:
    """The scored ablation: its arms, effects, table (Markdown) and parent-run metrics."""

    arms: dict[tuple[str, str], ArmScores]
    effects: list[Effect]
    markdown: str
    metrics: dict[str, float]

    @property
    def missing(self) -> list[str]:
        """The trials planned but not scored."""
        return [name for arm in self.arms.values() for name in arm.missing]

    def summary(self) -> dict[str, Any]:
        """The ablation's own part of its JSON summary."""
        return {"missing": self.missing, "effects": effect_rows(self.effects), "ablation_markdown": self.markdown}


def evaluate_ablation(
    tracker: Tracker,
    parent_run_id: str,
    planned: Sequence[Trial],
    results: Sequence[TrainSummary],
    factors: Sequence[Factor],
    margin: float = DEFAULT_MARGIN,
) -> AblationEvaluation:
    """Compare the arms by the official-test accuracy each trial scored in its worker; log the table, metrics
    and forest plot to the parent run."""
    from fmnist.evaluate.figures import forest_png

    arms = arm_scores(planned, {r.trial.name: r.accuracy("official_test") for r in results if r.trial})
    effects = ablation_effects(arms, factors, margin)
    markdown = ablation_markdown(effects, arms, margin)
    metrics = ablation_metrics(effects)
    tracker.log_metrics(parent_run_id, metrics)
    tracker.log_text(parent_run_id, markdown, layout.ABLATION_MD)
    measured = [(f"{e.factor}: {e.direction}", e.estimate, e.low, e.high) for e in effects if e.measured]
    if measured:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(layout.ABLATION_FOREST_FIGURE).name
            path.write_bytes(forest_png(measured, margin))
            tracker.log_artifact(parent_run_id, path, layout.FIGURES_DIR)
    tracker.flush()
    return AblationEvaluation(arms, effects, markdown, metrics)
