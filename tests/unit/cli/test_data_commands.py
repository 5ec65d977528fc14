"""The CLI's data commands, run as a user runs them: the installed `fmnist` script in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.factories import snapshot, write_csv_pair

FMNIST = [sys.executable, "-m", "fmnist"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FMNIST, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_help_lists_data_commands(tmp_path: Path) -> None:
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "ingest" in result.stdout and "split" in result.stdout


def test_csv_source_splits_and_reports_json(tmp_path: Path) -> None:
    import json

    write_csv_pair(tmp_path / "csv", n_train=2000, n_test=30)
    result = run("split", "--data-source", str(tmp_path / "csv"), "--out", "out", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["splits"]["train"]["rows"] == 200
    assert manifest["splits"]["official_test"]["rows"] == 30
    assert (tmp_path / "out" / "manifest.json").is_file()


def test_bad_source_is_one_line_error_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    train_csv = write_csv_pair(tmp_path / "csv", n_train=2000)
    lines = train_csv.read_text().splitlines()
    lines[5] = lines[5].replace(",0,", ",256,", 1) if ",0," in lines[5] else lines[5][:-1] + "256"
    train_csv.write_text("\n".join(lines) + "\n")
    result = run("split", "--data-source", str(train_csv), "--out", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error:")
    assert "line 6" in result.stderr and "outside 0..255" in result.stderr
    assert snapshot(tmp_path / "out") == {}


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = run("--debug", "ingest", "--data-source", str(tmp_path / "missing"), cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "SourceError" in result.stderr


def test_negative_seed_is_rejected(tmp_path: Path) -> None:
    result = run("split", "--seed", "-3", "--data-source", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "--seed" in result.stderr
