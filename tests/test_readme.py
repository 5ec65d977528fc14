"""Keep the README and docs/ true to the software.

Every `fmnist ...` and `make ...` command the README and docs/*.md show, in ```bash blocks or inline code,
must parse (`fmnist` subcommands and options exist, `make` targets exist); every relative link must resolve;
the README keeps its two set-up commands. The slow tests run the set-up and stack commands as written.
A code span holding a `<placeholder>` is a template, not a command, and is not checked.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist.ops.credentials import read as read_credentials

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS, ROOT / "docker" / "README.md"]
COMMAND = re.compile(r"(?:[A-Z_]+=\S+ )*(?:\.venv/bin/)?(fmnist|make)(?: (.*))?")
FENCED = re.compile(r"```.*?```", flags=re.S)


def bash_commands(page: Path) -> list[str]:
    """Every command line of a page's ```bash blocks: continuations joined, comments stripped."""
    blocks = re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def shown_commands(program: str) -> dict[str, list[str]]:
    """The arguments of every `program` command on README.md and docs/*.md, each with the pages showing it."""
    found: dict[str, list[str]] = {}
    for page in [README, *DOCS]:
        spans = re.findall(r"`([^`\n]+)`", FENCED.sub("", page.read_text()))
        for text in [*bash_commands(page), *spans]:
            match = COMMAND.fullmatch(text.strip())
            if match and match[1] == program and "<" not in text:
                found.setdefault(match[2] or "", []).append(page.relative_to(ROOT).as_posix())
    return found


def parse_only(args: list[str]) -> subprocess.CompletedProcess[str]:
    """`fmnist ARGS` with --help before the first option after the command: click parses every option, runs none."""
    at = next((i for i, a in enumerate(args) if a.startswith("-") and any(not b.startswith("-") for b in args[:i])),
              len(args))  # fmt: skip
    command = [sys.executable, "-m", "fmnist", *args[:at], "--help", *args[at:]]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


FMNIST_COMMANDS = shown_commands("fmnist")
MAKE_COMMANDS = shown_commands("make")


@pytest.mark.parametrize("args", sorted(FMNIST_COMMANDS))
def test_every_fmnist_command_shown_exists(args: str) -> None:
    done = parse_only(shlex.split(args))
    where = f"`fmnist {args}` in {FMNIST_COMMANDS[args]}"
    assert done.returncode == 0 and "Usage:" in done.stdout, f"{where}: {done.stderr}"


@pytest.mark.parametrize("args", ["run --no-such-option", "no-such-command", "sweep --dask-address", "stack nope"])
def test_a_wrong_command_fails_the_check(args: str) -> None:
    assert parse_only(shlex.split(args)).returncode != 0


@pytest.mark.parametrize("args", sorted(MAKE_COMMANDS))
def test_every_make_target_shown_exists(args: str) -> None:
    done = subprocess.run(["make", "-n", *shlex.split(args)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"`make {args}` in {MAKE_COMMANDS[args]}: {done.stderr}"


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    headings = re.findall(r"^#+ (.+)$", FENCED.sub("", page.read_text()), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", FENCED.sub("", page.read_text())):
            if "://" in target or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and anchor not in anchors(linked)):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_readme_is_the_short_way_in() -> None:
    """The two set-up commands, only commands the tests check, a link to every page of docs/, a five-minute read."""
    commands = bash_commands(README)
    assert {"make run", "make test"} <= set(commands)
    assert [c for c in commands if not COMMAND.fullmatch(c)] == []
    text = README.read_text()
    assert [p.name for p in DOCS if f"](docs/{p.name})" not in text] == []
    assert len(text.splitlines()) <= 100


@pytest.mark.slow
@pytest.mark.e2e  # the flow starts a temporary Prefect server
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


@pytest.mark.slow
@pytest.mark.e2e
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
