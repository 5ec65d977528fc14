"""Keep the README and docs/ true to the software.

Every `fmnist ...` and `make ...` command the README and docs/*.md show, in ```bash blocks or inline code,
must parse (`fmnist` subcommands and options exist, `make` targets exist); every relative link must resolve;
the README keeps its two set-up commands. `tests/e2e/test_documented_commands.py` runs the set-up and stack
commands as written.
A code span holding a `<placeholder>` is a template, not a command, and is not checked.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_the_dask_config_file_for_clusters_of_your_own_is_what_a_run_s_cluster_gets() -> None:
    """docs/operations.md shows `TRAINING_DASK_CONFIG` as a Dask config file for `dask worker`: the two must agree."""
    import yaml

    from flows.trials import TRAINING_DASK_CONFIG

    (block,) = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "operations.md").read_text(), flags=re.S)

    def flat(node: dict, prefix: str = "") -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in node.items():
            out |= flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
        return out

    assert flat(yaml.safe_load(block)) == dict(TRAINING_DASK_CONFIG)
