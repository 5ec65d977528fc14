"""The set-up and stack commands the README and docs/ show, run as written (shortened to one epoch): `make run`,
and `fmnist stack up` / `status` / `down` with `prefect deployment run` against the stack."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from fmnist.ops.credentials import read as read_credentials
from tests.test_readme import BIN, ROOT, bash_commands

pytestmark = pytest.mark.slow


def test_make_run_runs_the_pipeline(real_data_dir: Path, tmp_path: Path) -> None:
    """`make run` with a local data source, shortened to one epoch and kept out of the working tree."""
    assert "FMNIST_DATA_SOURCE=../shared/data/fashion-mnist make run" in bash_commands(ROOT / "docs" / "usage.md")
    env = {**os.environ, "FMNIST_DATA_SOURCE": str(real_data_dir),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}  # fmt: skip
    args = f"--max-epochs 1 --work-dir {tmp_path / 'work'} --experiment readme --json"
    # Under `make test` this is a nested make: --no-print-directory keeps its "Entering directory" lines out.
    done = subprocess.run(["make", "--no-print-directory", "run", f"RUN_ARGS={args}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(summary["frameworks"]) == {"keras", "torch"}
    assert Path(summary["report"]).is_file()


def test_stack_and_deployment_commands(real_data_dir: Path, tmp_path: Path) -> None:
    """docs/operations.md's stack commands and `prefect deployment run` as written (one epoch instead of five)."""
    commands = bash_commands(ROOT / "docs" / "operations.md")
    assert {f".venv/bin/fmnist stack {c}" for c in ("up", "status", "down")} <= set(commands)
    fmnist = str(BIN / "fmnist")
    env = dict(os.environ)
    up = subprocess.run([fmnist, "stack", "up"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        status = subprocess.run([fmnist, "stack", "status", "--json"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        info = json.loads(status.stdout)
        assert info["running"] and all(info["processes"].values())
        client = read_credentials(Path(info["client_env"]))
        for secret in (client["PREFECT_API_AUTH_STRING"].split(":", 1)[1], client["MLFLOW_TRACKING_PASSWORD"]):
            assert secret not in up.stdout + up.stderr + status.stdout + status.stderr
        script = [
            c.replace("max_epochs=5", "max_epochs=1").replace("$PWD/../shared/data/fashion-mnist", str(real_data_dir))
            .replace(".venv/bin/", f"{BIN}/")
            for c in commands
            if c.startswith(("set -a && . .fmnist-stack/client.env", ".venv/bin/prefect deployment run "))
        ]  # fmt: skip
        assert len(script) == 2
        env["PREFECT_HOME"] = str(tmp_path / ".fmnist-stack" / "prefect-home")
        run = subprocess.run(["bash", "-euc", "\n".join(script)], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=900)  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "Completed" in run.stdout
    finally:
        down = subprocess.run([fmnist, "stack", "down"], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
    assert down.returncode == 0 and "prefect-server" in down.stdout
    final = subprocess.run([fmnist, "stack", "status", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert json.loads(final.stdout)["running"] is False
