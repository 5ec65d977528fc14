"""The ablation's smoke configuration on the real data, as a user runs it: `fmnist ablate --seeds 2 --max-epochs 2`
with two factors; the MLflow layout it leaves (one parent, one nested run per trial, the effects) is checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FACTORS = ("bn_momentum", "bn_epsilon")
DIRECTIONS = ("keras_to_torch", "torch_to_keras")


def test_smoke_ablation_leaves_one_parent_one_run_per_trial_and_the_effects(
    real_data_dir: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (tmp_path / "mlruns").mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    command = [sys.executable, "-m", "fmnist", "--quiet", "ablate", "--data-source", str(real_data_dir),
               "--factors", ",".join(FACTORS), "--seeds", "2", "--max-epochs", "2",
               "--work-dir", str(tmp_path / "work"), "--experiment", "ablation-smoke", "--json"]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["missing"] == []

    client = MlflowClient(uri)
    parent_id = summary["parent_run_id"]
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    experiment = client.get_experiment_by_name("ablation-smoke").experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_id}'", max_results=100)

    # Both frameworks × (baseline, each factor, all) × 2 seeds, each a finished nested run tagged with its arm,
    # every factor's level and its seed, trained with its arm's settings.
    assert len(children) == 2 * 4 * 2 and all(c.info.status == "FINISHED" for c in children)
    arms = sorted((c.data.tags["framework"], c.data.tags["arm"], c.data.tags["seed"]) for c in children)
    assert arms == sorted((fw, arm, seed) for fw in ("keras", "torch") for arm in ("baseline", *FACTORS, "all")
                          for seed in ("42", "43"))  # fmt: skip
    for c in children:
        tags, params = c.data.tags, c.data.params
        assert sum(key.startswith("factor.") for key in tags) == 8
        switched = tags["arm"] in ("bn_momentum", "all")
        other = {"keras": "torch", "torch": "keras"}[tags["framework"]]
        assert tags["factor.bn_momentum"] == (other if switched else tags["framework"])
        momentum = {"keras": "0.1", "torch": "0.01"}[tags["framework"]] if switched else "framework_default"
        assert params["model.bn_momentum"] == momentum and params["train.max_epochs"] == "2"
        assert tags.get("direction", "") == ("" if tags["arm"] == "baseline" else f"{tags['framework']}_to_{other}")

    # The parent's effects are the arms' mean official-test accuracies, in points, less the baseline's.
    def mean_pt(framework: str, arm: str) -> float:
        accs = [c.data.metrics["official_test/acc"] for c in children
                if (c.data.tags["framework"], c.data.tags["arm"]) == (framework, arm)]  # fmt: skip
        return 100 * sum(accs) / len(accs)

    metrics = parent.data.metrics
    for factor in (*FACTORS, "all"):
        for direction in DIRECTIONS:
            key = f"ablation/{factor}/{direction}"
            fw = direction.split("_")[0]
            assert metrics[f"{key}/effect_pt"] == pytest.approx(mean_pt(fw, factor) - mean_pt(fw, "baseline"))
            assert metrics[f"{key}/ci_low"] <= metrics[f"{key}/effect_pt"] <= metrics[f"{key}/ci_high"]
            assert 0.0 <= metrics[f"{key}/p_holm"] <= 1.0
    assert metrics["ablation/framework/own_defaults/effect_pt"] == pytest.approx(
        mean_pt("keras", "baseline") - mean_pt("torch", "baseline")
    )
    assert {row["factor"] for row in summary["effects"]} == {*FACTORS, "all", "framework"}

    # The table, the forest plot and the report in the parent's artifacts.
    dl = tmp_path / "dl"
    table = Path(client.download_artifacts(parent_id, "comparison/ablation.md", str(dl))).read_text()
    assert "| bn_momentum | keras_to_torch | 2 vs 2 |" in table
    forest = Path(client.download_artifacts(parent_id, "figures/ablation_forest.png", str(dl))).read_bytes()
    assert forest.startswith(b"\x89PNG")
    report = Path(client.download_artifacts(parent_id, "report/report.html", str(dl))).read_text()
    assert "Ablation: the effect of each framework default" in report and "keras-bn_momentum-seed-42" in report
