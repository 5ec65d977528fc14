"""Concurrency: four whole pipeline runs (`fmnist run`) started at the same moment on one machine, on a fresh
work folder (downloads, splits, checkpoints), a fresh default SQLite MLflow store and a fresh Prefect home.

All must finish; none may clobber another's files; every parent run and its child runs are in MLflow;
and the `champion` alias of each registered model ends on the version the promotion rule picked, as the
`promotion.*` tags of the versions record it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from fmnist.data.manifest import read_manifest
from tests.e2e.faults.processes import FMNIST, stop_group

pytestmark = pytest.mark.slow

FRAMEWORKS = ("keras", "torch")
MODELS = ("fmnist-keras", "fmnist-torch", "fmnist")
RUNS = 4


def test_four_pipeline_runs_at_once_share_work_dir_and_store(real_data_dir: Path, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    work = tmp_path / "work"
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (tmp_path / "mlruns").mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    command = [*FMNIST, "run", "--data-source", str(real_data_dir), "--max-epochs", "1", "--work-dir", str(work),
               "--experiment", "concurrent", "--json"]  # fmt: skip
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "start_new_session": True}
    runs = [subprocess.Popen(command, env=env, cwd=tmp_path, **pipes) for _ in range(RUNS)]
    started = time.monotonic()
    try:
        outputs = [run.communicate(timeout=1200) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                stop_group(run.pid, timeout=10)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    run.communicate(timeout=10)
    elapsed = time.monotonic() - started
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stdout[-2000:] + stderr[-3000:]
    summaries = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    parents = [s["parent_run_id"] for s in summaries]
    assert len(set(parents)) == RUNS

    # One split, written by whichever run got there first (or both, atomically): intact, and what both used.
    split_dir = work / "splits" / "seed-42"
    manifest = read_manifest(split_dir, verify=True)
    assert sorted(p.name for p in split_dir.iterdir()) == sorted(
        [*(f"{name}.parquet" for name in manifest.splits), "manifest.json"]
    )  # no temporary file left behind
    for summary in summaries:
        assert {k: v["sha256"] for k, v in summary["splits"].items()} == {
            k: v.sha256 for k, v in manifest.splits.items()
        }

    # Checkpoints: one folder per parent run and framework, each holding its own training.
    for summary in summaries:
        for framework in FRAMEWORKS:
            folder = work / "checkpoints" / summary["parent_run_id"] / f"{framework}-seed-42"
            state = json.loads((folder / "state.json").read_text())
            assert state["framework"] == framework and state["epoch"] == 1
            assert any(folder.glob("epoch-001.*")), sorted(folder.iterdir())

    # The registry too: a client without one uses the registry an earlier run in this process set (MLflow's global).
    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("concurrent")
    infos = [client.get_run(p).info for p in parents]
    assert max(i.start_time for i in infos) < min(i.end_time for i in infos)  # all four were running at once
    for summary in summaries:
        parent = client.get_run(summary["parent_run_id"])
        assert parent.info.status == "FINISHED"
        children = client.search_runs(
            [experiment.experiment_id], f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'"
        )
        assert sorted(c.data.tags["framework"] for c in children) == sorted(FRAMEWORKS)
        for child in children:
            assert child.info.status == "FINISHED"
            assert child.info.run_id == summary["frameworks"][child.data.tags["framework"]]["run_id"]
            assert [m.step for m in client.get_metric_history(child.info.run_id, "val/acc")] == [1]
            assert "official_test/acc" in child.data.metrics

    # The registry: one version of each model per run; champion on the last version the rule promoted.
    for name in MODELS:
        versions = {int(v.version): v.tags for v in client.search_model_versions(f"name = '{name}'")}
        assert sorted(versions) == list(range(1, RUNS + 1)), (name, versions)
        champion = int(client.get_registered_model(name).aliases["champion"])
        promoted = [v for v, tags in sorted(versions.items()) if tags.get("promotion.promoted") == "True"]
        assert promoted and champion == promoted[-1], (name, champion, versions)
        for tags in versions.values():
            assert {"promotion.promoted", "promotion.previous_champion", "promotion.rule"} <= set(tags)
        decisions = {v: (t["promotion.promoted"], t["promotion.previous_champion"]) for v, t in versions.items()}
        print(f"{name}: champion v{champion}; (promoted, previous champion) by version: {decisions}")
    print(f"{RUNS} concurrent runs finished in {elapsed:.0f} s")
