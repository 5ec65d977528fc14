"""Fetching a split from the artifact store: a cold worker (nothing cached) and a warm one.

    python benchmarks/bench_split_store.py --data SPLIT_DIR [--repeats 5] [--workers 1]

Starts an MLflow server on loopback (SQLite, artifacts in a throw-away folder, served through the server as the
stack does), publishes the split folder once (70,000 images with the official test set) and times
``fetch_split`` into an empty cache (download, sha256 of the manifest and of every file, rename into place) and
into a cache that holds it already. Plain references in the same run: MLflow's own download of the same
folder, without any check, and copying the folder on the local disk. Prints medians; target: cold <= 2 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from fmnist.ops.loopback import free_port


@contextlib.contextmanager
def mlflow_server(base: Path, workers: int) -> Iterator[str]:
    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}",
               "--artifacts-destination", str(base / "artifacts"), "--serve-artifacts"]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("the MLflow server did not start")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def median_seconds(fn: Callable[[], object], repeats: int, before: Callable[[], object] = lambda: None) -> float:
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="split folder written by `fmnist split`")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="MLflow server workers")
    args = parser.parse_args()

    from fmnist.data.manifest import read_manifest
    from fmnist.tracking import Tracker, layout
    from fmnist.tracking.split_store import fetch_split, publish_split

    manifest = read_manifest(args.data, verify=True)
    images = sum(info.rows for info in manifest.splits.values())
    size = sum((args.data / f"{name}.parquet").stat().st_size for name in manifest.splits)
    with tempfile.TemporaryDirectory() as tmp, mlflow_server(Path(tmp), args.workers) as url:
        tracker = Tracker(url, "bench-split-store")
        ref = publish_split(tracker, args.data)
        cache, raw, copy = Path(tmp) / "cache", Path(tmp) / "raw", Path(tmp) / "copy"

        def empty(*folders: Path) -> Callable[[], None]:
            return lambda: [shutil.rmtree(f, ignore_errors=True) for f in folders]

        cold = median_seconds(lambda: fetch_split(tracker, ref, cache), args.repeats, empty(cache))
        fetch_split(tracker, ref, cache)
        warm = median_seconds(lambda: fetch_split(tracker, ref, cache), args.repeats)
        mlflow_only = median_seconds(
            lambda: tracker.download_artifact(ref.run_id, layout.SPLIT_DIR, raw), args.repeats, empty(raw)
        )
        local = median_seconds(lambda: shutil.copytree(args.data, copy), args.repeats, empty(copy))
    print(f"split of {images:,} images, {size / 2**20:.1f} MiB of Parquet; median of {args.repeats} runs,"
          f" MLflow server with {args.workers} worker(s) on loopback")  # fmt: skip
    print(f"  {'reference: copy the folder on local disk':48} {local:6.2f} s")
    print(f"  {'reference: MLflow download, no checks':48} {mlflow_only:6.2f} s")
    verdict = "meets" if cold <= 2 else "misses"
    print(f"  {'fetch_split, cold worker (download + verify)':48} {cold:6.2f} s  ({verdict} <= 2 s)")
    print(f"  {'fetch_split, warm worker (verify the cache)':48} {warm:6.2f} s  (no download)")


if __name__ == "__main__":
    main()
