"""Keep the README true: every shell command in it is run here (shortened where noted) or dry-run.

A command the README gains without a rule below fails `test_every_readme_command_is_covered`, so new
instructions cannot drift away from what the software does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Commands whose full run is the test suite or the benchmarks themselves: checked with `make -n`.
DRY_RUN = {"make test", "make test-unit", "make bench"}


def readme_commands() -> list[str]:
    """Every command line of the README's ```bash blocks, comments stripped."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _kind(command: str) -> str:
    if command in DRY_RUN:
        return "dry-run"
    if re.fullmatch(r"(FMNIST_DATA_SOURCE=\S+ )?make run", command):
        return "make-run"
    if command.startswith(".venv/bin/fmnist stack "):
        return "stack"
    if command.startswith(("export PREFECT_API_URL=", ".venv/bin/prefect deployment run ")):
        return "deployment"
    return "uncovered"


def test_every_readme_command_is_covered() -> None:
    commands = readme_commands()
    assert len(commands) >= 8
    assert [c for c in commands if _kind(c) == "uncovered"] == []


@pytest.mark.parametrize("target", sorted(DRY_RUN))
def test_dry_run_targets_exist(target: str) -> None:
    done = subprocess.run([*target.split(), "-n"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
@pytest.mark.e2e  # the flow starts a temporary Prefect server
def test_make_run_runs_the_pipeline(real_data_dir: Path, tmp_path: Path) -> None:
    """`make run` with a local data source, shortened to one epoch and kept out of the working tree."""
    assert "FMNIST_DATA_SOURCE=../shared/data/fashion-mnist make run" in readme_commands()
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


@pytest.mark.slow
@pytest.mark.e2e
def test_stack_and_deployment_commands(real_data_dir: Path, tmp_path: Path) -> None:
    """The stack commands and `prefect deployment run` exactly as written (one epoch instead of five)."""
    fmnist = str(BIN / "fmnist")
    env = dict(os.environ)
    up = subprocess.run([fmnist, "stack", "up"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        status = subprocess.run([fmnist, "stack", "status", "--json"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        info = json.loads(status.stdout)
        assert info["running"] and all(info["processes"].values())
        prefect_port = info["prefect_ui"].rsplit(":", 1)[1]
        mlflow_port = info["mlflow_ui"].rsplit(":", 1)[1]
        script = [
            c.replace("<prefect-port>", prefect_port).replace("<mlflow-port>", mlflow_port)
            .replace("max_epochs=5", "max_epochs=1").replace("$PWD/../shared/data/fashion-mnist", str(real_data_dir))
            .replace(".venv/bin/", f"{BIN}/")
            for c in readme_commands() if _kind(c) == "deployment"
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
