from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from fmnist.registry.registration import registry_lock


def test_a_second_process_waits_for_the_registry_lock(tmp_path: Path) -> None:
    tracker = SimpleNamespace(uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from types import SimpleNamespace; from fmnist.registry.registration import registry_lock\n"
         f"with registry_lock(SimpleNamespace(uri={tracker.uri!r})):\n"
         "    print('held', flush=True); time.sleep(1.5)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    with registry_lock(tracker):
        waited = time.monotonic() - start
    holder.wait(timeout=10)
    assert waited >= 1.0
    assert (tmp_path / "mlflow.register.lock").exists()


def test_no_lock_for_a_tracking_server() -> None:
    start = time.monotonic()
    with registry_lock(SimpleNamespace(uri="http://127.0.0.1:5000")):
        pass
    assert time.monotonic() - start < 0.5
