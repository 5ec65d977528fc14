"""The ablation's pure parts: the factor table, the arms and trials it plans, and the effects it estimates."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from fmnist.config import ModelConfig, TrainConfig, get_preset, override
from fmnist.errors import FmnistError
from fmnist.experiments.ablation import (
    ablation_arms,
    ablation_effects,
    ablation_markdown,
    ablation_metrics,
    arm_scores,
    effect_rows,
    plan_ablation,
    verdict,
)
from fmnist.experiments.factors import factor_table, parity_overrides, select_factors
from fmnist.train.trial import Trial

METRIC_NAME = re.compile(r"^[\w\-./ ]+$")  # MLflow's rule for metric names
FIELDS = {f.name for f in dataclasses.fields(ModelConfig)} | {f.name for f in dataclasses.fields(TrainConfig)}


def _by_name() -> dict:
    return {f.name: f for f in factor_table()}


def test_every_factor_has_two_levels_of_config_fields_and_one_of_them_for_parity() -> None:
    table = factor_table()
    assert len({f.name for f in table}) == len(table)
    for f in table:
        assert len(f.levels) == 2 and f.parity in f.levels and f.only in (None, "keras", "torch"), f
        for values in f.levels.values():
            assert set(values) <= FIELDS, f
    # A framework default has a level per framework; the other factors a reference level and a shared one.
    assert {tuple(f.levels) for f in table} == {("keras", "torch"), ("reference", "shared")}


def test_every_setting_the_seed_preset_leaves_to_the_frameworks_is_a_factor() -> None:
    """A new framework default in the configs (None, or a value naming the framework's own choice) that no factor
    switches would make the ablation, and the parity preset, silently incomplete."""
    seed = get_preset("seed")
    left = {k for k, v in {**dataclasses.asdict(seed.model), **dataclasses.asdict(seed.train)}.items()
            if v is None or v in ("framework", "per_framework", "reference")}  # fmt: skip
    switched = {key for f in factor_table() for values in f.levels.values() for key in values}
    assert left <= switched
    assert switched - left == {"output"}  # the seed preset names Keras's softmax; PyTorch ignores it


def test_parity_is_the_seed_preset_with_every_factor_at_its_parity_level() -> None:
    seed, parity = get_preset("seed"), get_preset("parity")
    assert (parity.model, parity.train) == override(seed.model, seed.train, parity_overrides())
    assert parity_overrides() == {"init": "shared", "batch_order": "shared", "bn_momentum": 0.01, "bn_epsilon": 1e-3,
                                  "bn_variance": "biased", "adam_epsilon": 1e-7,
                                  "adam_epsilon_placement": "before_bias_correction", "output": "logits"}  # fmt: skip


def test_each_framework_s_own_level_is_what_its_defaults_give() -> None:
    """Switching a factor to a framework's own level changes nothing in that framework: the table's numbers are the
    frameworks' defaults in the config's conventions."""
    from fmnist.models import keras_net, torch_net
    from fmnist.train.keras_backend import KERAS_ADAM_EPSILON
    from fmnist.train.torch_backend import TORCH_ADAM_EPSILON

    seed = get_preset("seed")
    for fw, bn_settings, adam_epsilon in (("keras", keras_net.bn_settings, KERAS_ADAM_EPSILON),
                                          ("torch", torch_net.bn_settings, TORCH_ADAM_EPSILON)):  # fmt: skip
        own = {k: v for f in factor_table() for k, v in f.levels[f.own(fw)].items()}
        model, train = override(seed.model, seed.train, own)
        assert bn_settings(model) == pytest.approx(bn_settings(seed.model)), fw
        assert train.adam_epsilon == adam_epsilon, fw


def test_select_factors_keeps_the_table_order_and_names_what_is_wrong() -> None:
    assert select_factors(None) == factor_table()
    assert [f.name for f in select_factors(["bn_epsilon", "init"])] == ["init", "bn_epsilon"]
    with pytest.raises(FmnistError, match=r"unknown factor 'bn_foo'; choose from init, batch_order, bn_momentum"):
        select_factors(["bn_momentum", "bn_foo"])
    with pytest.raises(FmnistError, match=r"factor 'init' listed twice"):
        select_factors(["init", "bn_momentum", "init"])
    with pytest.raises(FmnistError, match="no factor given"):
        select_factors([])


def test_arms_switch_each_factor_a_framework_can_switch_then_all_of_them() -> None:
    arms = ablation_arms(factor_table())
    keras = [a.name for a in arms if a.framework == "keras"]
    torch = [a.name for a in arms if a.framework == "torch"]
    assert keras == ["baseline", "init", "batch_order", "bn_momentum", "bn_epsilon", "adam_epsilon", "output", "all"]
    assert torch == ["baseline", "init", "batch_order", "bn_momentum", "bn_epsilon", "bn_variance", "adam_epsilon",
                     "adam_epsilon_placement", "all"]  # fmt: skip
    assert [a.direction for a in arms if a.name in ("bn_momentum", "init", "all", "baseline")] == [
        "", "keras_to_shared", "keras_to_torch", "keras_to_torch", "", "torch_to_shared", "torch_to_keras",
        "torch_to_keras",
    ]  # fmt: skip


def test_an_arm_overrides_its_switched_levels_and_tags_every_factor_s_level() -> None:
    arms = {(a.framework, a.name): a for a in ablation_arms(factor_table())}
    assert arms[("keras", "bn_momentum")].values() == {"bn_momentum": 0.1}
    assert arms[("torch", "bn_momentum")].values() == {"bn_momentum": 0.01}
    assert arms[("torch", "init")].values() == {"init": "shared"}
    assert arms[("keras", "baseline")].values() == {}
    labels = arms[("keras", "bn_momentum")].labels()
    assert labels["direction"] == "keras_to_torch" and labels["factor.bn_momentum"] == "torch"
    assert labels["factor.bn_epsilon"] == "keras" and labels["factor.init"] == "reference"
    assert len([k for k in labels if k.startswith("factor.")]) == len(factor_table())
    keras_all = arms[("keras", "all")].values()
    assert keras_all["output"] == "logits" and keras_all["adam_epsilon"] == 1e-8 and "bn_variance" not in keras_all
    assert arms[("torch", "all")].labels()["factor.output"] == "torch"  # PyTorch cannot switch its output


def test_plan_trains_every_arm_with_every_seed_on_every_split() -> None:
    trials = plan_ablation(factor_table(), range(42, 47))
    assert len(trials) == 17 * 5 and len({t.name for t in trials}) == len(trials)
    assert trials[0] == Trial("keras", 42, {}, "baseline", None, ablation_arms(factor_table())[0].labels())
    assert trials[0].name == "keras-baseline-seed-42"
    split = plan_ablation(select_factors(["bn_epsilon"]), [1, 2], [7, 8, 7])
    assert len(split) == 6 * 2 * 2 and {t.split_seed for t in split} == {7, 8}
    assert split[0].name == "keras-baseline-split-7-seed-1"
    # One split seed: the trials use the setup's split and their names do not mention it.
    assert {t.split_seed for t in plan_ablation(factor_table(), [1, 2], [7])} == {None}


def test_plan_needs_two_seeds_to_estimate_a_spread() -> None:
    with pytest.raises(FmnistError, match="at least 2 seeds"):
        plan_ablation(factor_table(), [3, 3])


# Worked by hand (see tests/unit/test_stats.py): 86, 87, 88 against 88, 89, 90 is +2 points, 95% interval
# 2 ± 2.7764 × 0.8165, Welch p = 0.0705, TOST p 0.930 at ±0.5 and 0.0107 at ±5.
LOW, HIGH = [0.86, 0.87, 0.88], [0.88, 0.89, 0.90]


def _scored(accuracies: dict[tuple[str, str], list[float]]) -> tuple[list[Trial], dict[str, float]]:
    trials = plan_ablation(select_factors(["bn_momentum"]), [1, 2, 3])
    scores = {t.name: accuracies[(t.framework, t.arm)][t.seed - 1] for t in trials}
    return trials, scores


def test_effects_known_answer() -> None:
    """Only bn_momentum, and only Keras moves: its bn_momentum and all arms score 2 points above the rest."""
    arms = {("keras", "baseline"): LOW, ("keras", "bn_momentum"): HIGH, ("keras", "all"): HIGH,
            ("torch", "baseline"): LOW, ("torch", "bn_momentum"): LOW, ("torch", "all"): LOW}  # fmt: skip
    trials, scores = _scored(arms)
    effects = ablation_effects(arm_scores(trials, scores), select_factors(["bn_momentum"]), margin=0.5)
    rows = {(e.factor, e.direction): e for e in effects}
    assert list(rows) == [
        ("bn_momentum", "keras_to_torch"), ("all", "keras_to_torch"), ("bn_momentum", "torch_to_keras"),
        ("all", "torch_to_keras"), ("framework", "own_defaults"), ("framework", "at_keras_settings"),
        ("framework", "at_torch_settings"), ("framework", "all_switched"),
    ]  # fmt: skip
    moved = rows[("bn_momentum", "keras_to_torch")]
    assert (moved.estimate, moved.low, moved.high) == pytest.approx((2.0, 2 - 2.2670, 2 + 2.2670), abs=1e-3)
    assert moved.p == pytest.approx(0.0705, abs=1e-4) and moved.p_tost == pytest.approx(0.930, abs=1e-3)
    assert moved.mde == pytest.approx(3.0353, abs=1e-3)
    # Framework rows are Keras minus PyTorch: equal at Keras's settings, +2 where Keras has switched.
    assert rows[("framework", "at_keras_settings")].estimate == pytest.approx(0.0, abs=1e-9)
    assert rows[("framework", "at_torch_settings")].estimate == pytest.approx(2.0)
    # Holm over the 8 comparisons: four at p 0.0705 → 8 × 0.0705 = 0.564; the four at p 1 stay at 1.
    assert sorted(round(e.p_holm, 3) for e in effects) == [0.564] * 4 + [1.0] * 4
    assert {e.verdict for e in effects} == {"inconclusive"}
    wide = ablation_effects(arm_scores(trials, scores), select_factors(["bn_momentum"]), margin=5.0)
    assert wide[0].verdict == "equivalent within ±5 pt"


def test_verdict_wording() -> None:
    assert verdict(0.01, 0.01, 0.5) == "different, but within ±0.5 pt"
    assert verdict(0.01, 0.2, 0.5) == "different"
    assert verdict(0.2, 0.01, 0.5) == "equivalent within ±0.5 pt"
    assert verdict(0.2, 0.2, 0.5) == "inconclusive"


def test_a_missing_trial_is_reported_and_an_arm_without_two_trials_is_not_estimated() -> None:
    arms = {key: LOW for key in [("keras", a) for a in ("baseline", "bn_momentum", "all")]
            + [("torch", a) for a in ("baseline", "bn_momentum", "all")]}  # fmt: skip
    trials, scores = _scored(arms)
    del scores["torch-all-seed-3"]
    scores["torch-all-seed-2"] = math.nan  # scored nowhere: a trial that failed its scoring
    grouped = arm_scores(trials, scores)
    assert grouped[("torch", "all")].missing == ("torch-all-seed-2", "torch-all-seed-3")
    effects = ablation_effects(grouped, select_factors(["bn_momentum"]))
    unmeasured = [e for e in effects if not e.measured]
    assert [(e.factor, e.direction) for e in unmeasured] == [
        ("all", "torch_to_keras"), ("framework", "at_keras_settings"), ("framework", "all_switched")
    ]  # fmt: skip
    assert {e.verdict for e in unmeasured} == {"too few trials"}
    # Holm runs over the five comparisons that have enough trials (p = 1 each here).
    assert [e.p_holm for e in effects if e.measured] == [1.0] * 5
    metrics = ablation_metrics(effects)
    assert "ablation/all/torch_to_keras/effect_pt" not in metrics
    assert all(METRIC_NAME.match(k) for k in metrics) and len(metrics) == 5 * 6
    assert {"effect_pt", "ci_low", "ci_high", "p_holm"} <= {k.rsplit("/", 1)[1] for k in metrics}
    markdown = ablation_markdown(effects, grouped, 0.5)
    assert "| all | torch_to_keras | 1 vs 3 (2 missing) | — |" in markdown
    assert "| PyTorch | all | 1 | torch-all-seed-2, torch-all-seed-3 |" in markdown
    row = effect_rows(effects)[3]
    assert row["effect_pt"] is None and row["missing"] == ["torch-all-seed-2", "torch-all-seed-3"]


def test_margin_must_be_positive() -> None:
    trials, scores = _scored({(fw, a): LOW for fw in ("keras", "torch") for a in ("baseline", "bn_momentum", "all")})
    with pytest.raises(FmnistError, match="margin 0: give a positive number"):
        ablation_effects(arm_scores(trials, scores), select_factors(["bn_momentum"]), margin=0.0)
