"""Fault: the disk fills up while splitting, checkpointing or writing a report.

Each case runs in a mount namespace of its own (``unshare --mount``, as root) in which the output folder is a small
tmpfs, so the write really fails with ENOSPC. What must hold: one ``error:`` line naming the place and what to do,
exit status 1, no partial or temporary file left, and what was there before byte for byte intact.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import write_csv_pair

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare for a private tmpfs"
    ),
]

FMNIST = [sys.executable, "-m", "fmnist", "--quiet"]
# Runs inside the namespace: each step in turn, then the files under the mount point (hidden ones too) with their
# sha256; prints one JSON list.
DRIVER = """
import hashlib, json, pathlib, subprocess, sys
mountpoint, steps = pathlib.Path(sys.argv[1]), json.loads(sys.argv[2])
out = []
for step in steps:
    done = subprocess.run(step, capture_output=True, text=True)
    files = {str(p.relative_to(mountpoint)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(mountpoint.rglob("*")) if p.is_file()}
    out.append({"returncode": done.returncode, "stderr": done.stderr, "files": files})
print(json.dumps(out))
"""


def in_small_disk(size_kib: int, mountpoint: Path, steps: list[list[str]], env: dict[str, str]) -> list[dict]:
    """Mount a ``size_kib`` tmpfs on ``mountpoint`` in a private mount namespace and run ``steps`` there, one
    after the other; after each, list the files under ``mountpoint``. Returns, per step: returncode, stderr,
    files (path → sha256)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    script = f'mount -t tmpfs -o size={size_kib}k tmpfs {shlex.quote(str(mountpoint))} && exec "$@"'
    command = [sys.executable, "-c", DRIVER, str(mountpoint), json.dumps(steps)]
    done = subprocess.run(
        ["unshare", "--mount", "bash", "-c", script, "in-small-disk", *command],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# TensorFlow's C++ runtime writes these at import, before any Python code can configure its logging.
TENSORFLOW_STARTUP = (
    "I0000 ",
    "W0000 ",
    "WARNING: All log messages before absl::InitializeLog()",
    "To enable the following",
)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(TENSORFLOW_STARTUP)]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-3000:]
    return lines[0]


def test_a_split_that_does_not_fit_leaves_the_earlier_split_intact(real_data_dir: Path, tmp_path: Path) -> None:
    small = write_csv_pair(tmp_path / "csv", n_train=2400, n_test=300)
    disk = tmp_path / "disk"
    env = {**os.environ}
    earlier, full = in_small_disk(
        8 * 1024,  # the small split fits; the real one (tens of MB) cannot
        disk,
        [
            [*FMNIST, "split", "--data-source", str(small), "--out", str(disk / "splits")],
            [*FMNIST, "split", "--data-source", str(real_data_dir), "--out", str(disk / "splits")],
        ],
        env,
    )
    assert earlier["returncode"] == 0, earlier["stderr"][-3000:]
    assert sorted(earlier["files"]) == [f"splits/{n}" for n in
                                        ("manifest.json", "official_test.parquet", "test.parquet", "train.parquet",
                                         "val.parquet")]  # fmt: skip
    assert full["returncode"] == 1, full["stderr"][-3000:]
    line = one_error_line(full["stderr"])
    assert "no space left on the device holding" in line and str(disk / "splits") in line, line
    assert full["files"] == earlier["files"]  # the earlier split byte for byte, and no temporary file


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_a_checkpoint_that_does_not_fit_fails_the_training_and_keeps_the_earlier_epochs(
    framework: str, real_splits: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "FMNIST_EXPERIMENT": "disk-full"}
    train = [*FMNIST, "train", framework, "--data", str(real_splits), "--seed", "5"]
    # How much one epoch writes (its checkpoint, the copy kept as best, the state file), on an ordinary disk.
    probe = subprocess.run([*train, "--max-epochs", "1", "--checkpoints", str(tmp_path / "probe")],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-3000:]
    one_epoch = sum(p.stat().st_size for p in (tmp_path / "probe").rglob("*") if p.is_file())
    # Room for the first epoch, not for a second checkpoint (at least half of what the first epoch wrote).
    size_kib = int(one_epoch * 1.25) // 1024 + 16

    disk = tmp_path / "disk"
    (result,) = in_small_disk(size_kib, disk, [[*train, "--max-epochs", "3", "--checkpoints", str(disk)]], env)
    assert result["returncode"] == 1, result["stderr"][-3000:]
    line = one_error_line(result["stderr"])
    assert "no space left on the device holding" in line and "epoch-002" in line, line
    files = result["files"]
    assert not [f for f in files if Path(f).name.startswith(".tmp-")], files  # no partial file
    assert not [f for f in files if "epoch-002" in f], files
    (state_file,) = [f for f in files if f.endswith("state.json")]
    assert any("epoch-001" in f for f in files) and state_file  # the first epoch is still there

    store = MlflowClient(uri)
    experiment = store.get_experiment_by_name("disk-full")
    runs = store.search_runs([experiment.experiment_id], "attributes.status != 'FINISHED'")
    statuses = sorted(r.info.status for r in runs)
    assert statuses == ["FAILED", "FAILED"], statuses  # the training run and its parent: neither left RUNNING


def test_a_report_that_does_not_fit_leaves_the_earlier_report_intact(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    write = "\n".join([
        "import sys",
        "from pathlib import Path",
        "from fmnist.errors import DiskFullError",
        "from fmnist.evaluate.report import Report, write_report",
        "size = int(sys.argv[1])",
        "report = Report('# report ' + 'x' * size, '<html>' + 'y' * size, {'figures/figure.png': b'z' * size})",
        "try:",
        "    write_report(report, Path(sys.argv[2]))",
        "except DiskFullError as exc:",
        "    print(f'error: {exc}', file=sys.stderr)",
        "    sys.exit(exc.exit_code)",
    ])  # fmt: skip
    earlier, full = in_small_disk(
        1024,
        disk,
        [
            [sys.executable, "-c", write, "1000", str(disk / "report")],
            [sys.executable, "-c", write, "600000", str(disk / "report")],  # three files of 600 kB: no room
        ],
        {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert earlier["returncode"] == 0, earlier["stderr"]
    assert sorted(earlier["files"]) == ["report/figures/figure.png", "report/report.html", "report/report.md"]
    assert full["returncode"] == 1, full["stderr"]
    assert "no space left on the device holding" in one_error_line(full["stderr"])
    assert full["files"] == earlier["files"]  # all of the earlier report, none of the new one, no temporary file
