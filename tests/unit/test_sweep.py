"""The sweep's pure parts: the trial plan, the aggregation over seeds, its table and metrics; the CLI's options."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from fmnist.cli.flows import parse_epochs
from fmnist.errors import FmnistError
from fmnist.experiments.sweep import (
    aggregate,
    best_points,
    choose_points,
    framework_workers,
    plan_trials,
    sweep_markdown,
    sweep_metrics,
)
from fmnist.train.tracked import TrainSummary, trial_configs
from fmnist.train.trial import Trial, TrialSetup, point_label

# MLflow's rule for metric names.
METRIC_NAME = re.compile(r"^[\w\-./ ]+$")


def test_plan_crosses_frameworks_grid_and_seeds_in_a_stable_order() -> None:
    trials = plan_trials(["torch", "keras"], [7, 8], {"lr": [1e-3, 3e-3], "dropout": [0.1, 0.2, 0.1]})
    assert len(trials) == 2 * 2 * 2 * 2  # the repeated 0.1 counts once
    assert trials[0] == Trial("torch", 7, {"lr": 1e-3, "dropout": 0.1})
    assert trials[1] == Trial("torch", 8, {"lr": 1e-3, "dropout": 0.1})
    assert trials[2] == Trial("torch", 7, {"lr": 1e-3, "dropout": 0.2})
    assert trials[-1] == Trial("keras", 8, {"lr": 3e-3, "dropout": 0.2})
    assert len({t.name for t in trials}) == len(trials)


def test_plan_without_grid_trains_the_preset_once_per_seed() -> None:
    trials = plan_trials(["keras"], range(3), {"lr": None, "dropout": None})
    assert [t.name for t in trials] == ["keras-seed-0", "keras-seed-1", "keras-seed-2"]


@pytest.mark.parametrize(
    ("frameworks", "seeds", "grid", "message"),
    [
        (["keras"], [1], {"momentum": [0.9]}, "cannot sweep momentum"),
        (["jax"], [1], {}, "frameworks"),
        ([], [1], {}, "frameworks"),
        (["keras"], [], {}, "at least one seed"),
        (["keras"], [1], {"lr": []}, "grid lr"),
    ],
)
def test_plan_rejects_what_it_cannot_run(frameworks: list[str], seeds: list[int], grid: dict, message: str) -> None:
    with pytest.raises(FmnistError, match=message):
        plan_trials(frameworks, seeds, grid)


def _cold(*addresses: str) -> dict[str, list[str]]:
    """Workers that have imported no framework yet (a cluster started for one sweep)."""
    return {address: [] for address in addresses}


def test_each_framework_prefers_workers_of_its_own() -> None:
    trials = plan_trials(["keras", "torch"], range(4), {})
    assert framework_workers(trials, _cold("a", "b")) == {"keras": ["a"], "torch": ["b"]}
    assert framework_workers(trials, _cold(*"abcd")) == {"keras": ["a", "b"], "torch": ["c", "d"]}
    # Every worker is used once, none is shared while there are enough.
    five = framework_workers(trials, _cold(*"abcde"))
    assert sorted(w for ws in five.values() for w in ws) == list("abcde") and all(five.values())


def test_spare_workers_go_to_the_framework_with_the_most_trials_per_worker() -> None:
    trials = plan_trials(["keras"], [1], {}) + plan_trials(["torch"], range(6), {})
    assert framework_workers(trials, _cold(*"abcd")) == {"keras": ["a"], "torch": ["b", "c", "d"]}


def test_fewer_workers_than_frameworks_or_none_mean_no_preference() -> None:
    trials = plan_trials(["torch", "keras"], [1, 2], {})
    # One worker: a preference for it would strand its trials if Dask restarted it under a new address.
    assert framework_workers(trials, _cold("only")) == {}
    assert framework_workers(plan_trials(["torch"], [1, 2], {}), _cold("only")) == {}
    assert framework_workers(trials, {}) == {}
    assert framework_workers([], _cold("a", "b")) == {}


def test_workers_that_imported_every_framework_already_take_any_trial() -> None:
    trials = plan_trials(["keras", "torch"], range(4), {})
    preloaded = {"a": ["keras", "torch"], "b": ["keras", "torch"]}
    assert framework_workers(trials, preloaded) == {}
    # A Keras-only sweep needs nothing more than Keras.
    assert framework_workers(plan_trials(["keras"], [1, 2], {}), {"a": ["keras"], "b": ["keras", "torch"]}) == {}
    # One worker still without PyTorch (a long-lived cluster after one sweep on a fresh cluster): each framework
    # keeps to the workers it is set up on.
    after_one_sweep = {"a": ["torch"], "b": ["keras"]}
    assert framework_workers(trials, after_one_sweep) == {"keras": ["b"], "torch": ["a"]}
    assert framework_workers(trials, {**after_one_sweep, "c": []}) == {"keras": ["b", "c"], "torch": ["a"]}
    assert framework_workers(trials, {"a": ["keras", "torch"], "b": []}) == {"keras": ["a"], "torch": ["b"]}


def test_point_labels_are_short_and_valid_metric_name_parts() -> None:
    assert point_label({"lr": 0.003, "dropout": 0.1}) == "lr-0.003_dropout-0.1"
    assert point_label({"lr": 1e-5}) == "lr-1e-05"
    assert point_label({}) == "preset"
    assert METRIC_NAME.match(point_label({"lr": 1e20}))
    assert point_label({"init": "shared", "bn_momentum": 0.1}) == "init-shared_bn_momentum-0.1"


def test_an_arm_names_its_trials_instead_of_their_values() -> None:
    assert Trial("torch", 42, {"lr": 0.003}).name == "torch-lr-0.003-seed-42"
    assert Trial("keras", 1, {"bn_momentum": 0.1}, arm="bn_momentum").name == "keras-bn_momentum-seed-1"
    assert Trial("keras", 1, {}, arm="baseline", split_seed=7).name == "keras-baseline-split-7-seed-1"


def _hand_made() -> list[tuple[Trial, float]]:
    low, high = {"lr": 0.001}, {"lr": 0.003}
    return [
        (Trial("keras", 1, low), 0.80),
        (Trial("keras", 2, low), 0.84),
        (Trial("keras", 3, low), 0.88),
        (Trial("keras", 1, high), 0.85),
        (Trial("keras", 2, high), 0.87),
        (Trial("keras", 3, high), 0.86),
        (Trial("torch", 2, low), 0.90),  # seeds out of order: the row sorts them
        (Trial("torch", 1, low), 0.70),
    ]


def test_aggregate_is_mean_and_sample_std_per_framework_and_grid_point() -> None:
    rows = aggregate(_hand_made())
    keys = [(r.framework, r.point) for r in rows]
    assert keys == [("keras", "lr-0.001"), ("keras", "lr-0.003"), ("torch", "lr-0.001")]
    keras_low, keras_high, torch_low = rows
    assert keras_low.mean == pytest.approx(0.84)
    assert keras_low.std == pytest.approx(0.04)  # sqrt(((-.04)^2 + 0 + .04^2) / (3 - 1))
    assert keras_high.mean == pytest.approx(0.86)
    assert keras_high.std == pytest.approx(0.01)
    assert torch_low.mean == pytest.approx(0.80)
    assert torch_low.std == pytest.approx(0.1414213562)
    assert list(torch_low.per_seed) == [1, 2]
    assert {fw: row.point for fw, row in best_points(rows).items()} == {"keras": "lr-0.003", "torch": "lr-0.001"}


def test_aggregate_of_one_seed_has_zero_std_and_a_scored_twice_trial_is_an_error() -> None:
    (row,) = aggregate([(Trial("torch", 5, {"dropout": 0.2}), 0.9)])
    assert (row.mean, row.std, row.per_seed) == (0.9, 0.0, {5: 0.9})
    with pytest.raises(FmnistError, match="scored twice"):
        aggregate([(Trial("torch", 5), 0.9), (Trial("torch", 5), 0.8)])


def test_table_and_metrics_carry_every_row_and_mark_the_best() -> None:
    rows = aggregate(_hand_made())
    chosen = {"keras": "lr-0.003", "torch": "lr-0.001"}
    markdown = sweep_markdown(rows, chosen)
    lines = markdown.splitlines()
    assert lines[0] == "| Framework | lr | Seeds | Official test, mean ± std | Per seed |"
    assert "| Keras | 0.001 | 3 | 84.00 ± 4.00 | 1: 80.00, 2: 84.00, 3: 88.00 |" in lines
    assert "| Keras | 0.003 | 3 | **86.00 ± 1.00** | 1: 85.00, 2: 87.00, 3: 86.00 |" in lines
    assert "| PyTorch | 0.001 | 2 | **80.00 ± 14.14** | 1: 70.00, 2: 90.00 |" in lines
    assert "Keras: lr-0.003 (86.00 % official test)" in markdown

    metrics = sweep_metrics(rows, chosen)
    assert metrics["sweep/keras/lr-0.001/official_test_acc_mean"] == pytest.approx(0.84)
    assert metrics["sweep/keras/lr-0.003/official_test_acc_std"] == pytest.approx(0.01)
    assert metrics["sweep/keras/best_official_test_acc_mean"] == pytest.approx(0.86)
    assert len(metrics) == 2 * len(rows) + 2
    assert all(METRIC_NAME.match(key) for key in metrics)


def test_table_shows_preset_where_a_row_does_not_vary_a_key() -> None:
    rows = aggregate([(Trial("keras", 1, {"lr": 0.01}), 0.5), (Trial("keras", 1, {}), 0.6)])
    assert "| Keras | preset | 1 | **60.00 ± 0.00** | 1: 60.00 |" in sweep_markdown(rows, {"keras": "preset"})


def _scored(trial: Trial, val: float, official_test: float) -> TrainSummary:
    scores = {"val": SimpleNamespace(accuracy=val), "official_test": SimpleNamespace(accuracy=official_test)}
    return TrainSummary(trial.framework, trial.seed, trial.name, "", 1, 1, {}, "", 0.0, scores=scores, trial=trial)


def test_the_best_grid_point_is_chosen_on_validation_and_the_official_test_changes_nothing() -> None:
    low, high = {"lr": 0.001}, {"lr": 0.003}
    trials = [Trial("torch", s, v) for v in (low, high) for s in (1, 2)]
    val = {"lr-0.001": 0.9, "lr-0.003": 0.8}
    rng = random.Random(0)
    for _ in range(20):  # whatever the official-test scores, shuffled among the trials, the choice stands
        official = [rng.random() for _ in trials]
        results = [_scored(t, val[t.point], acc) for t, acc in zip(trials, official, strict=True)]
        assert choose_points(results) == {"torch": "lr-0.001"}
    # The control: choosing on the official test does depend on it.
    results = [_scored(t, val[t.point], 0.5 if t.point == "lr-0.001" else 0.6) for t in trials]
    assert choose_points(results, split="official_test") == {"torch": "lr-0.003"}


def test_cli_rejects_a_bad_grid_value_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fmnist", "sweep", "--lr", "1e-3,fast"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2
    assert "--lr '1e-3,fast'" in done.stderr and "Traceback" not in done.stderr


def test_an_epoch_grid_wins_over_the_setups_budget_and_leaves_the_rest_of_the_preset() -> None:
    setup = TrialSetup(Path("split"), "tuned", "parent", Path("ckpt"), "file:mlruns", max_epochs=5)
    _, budget = trial_configs(Trial("torch", 7), setup)
    assert (budget.max_epochs, budget.seed, budget.lr) == (5, 7, 3e-3)
    _, grid = trial_configs(Trial("torch", 7, {"max_epochs": 30, "lr": 1e-3}), setup)
    assert (grid.max_epochs, grid.seed, grid.lr, grid.batch_size) == (30, 7, 1e-3, 256)
    assert Trial("torch", 7, {"max_epochs": 30}).name == "torch-max_epochs-30-seed-7"


def test_epoch_budgets_are_whole_numbers() -> None:
    assert parse_epochs("20, 50") == [20, 50] and parse_epochs(None) is None
    for bad in ("20.5", "0", "many"):
        with pytest.raises(FmnistError, match="--epochs"):
            parse_epochs(bad)


def test_cli_help_documents_the_scale_out_options(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "fmnist", "sweep", "--help"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0
    for option in ("--seeds", "--lr", "--dropout", "--label-smoothing", "--epochs", "--workers", "--dask-address"):
        assert option in done.stdout
