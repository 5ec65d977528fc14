"""Scale-out of `fmnist sweep`: the same sweep on 1 Dask worker and on 2, in two set-ups.

    python benchmarks/bench_sweep.py --data DATA_DIR [--seeds 4] [--epochs 5] [--workers 1,2] [--repeats 3]
                                     [--setups local,existing] [--split-store local|mlflow]

Each sweep is `fmnist sweep --json` in a fresh process: both frameworks x ``--seeds`` seeds, the preset's grid
point, ``--epochs`` epochs each, on the real data, MLflow in a throw-away SQLite store. The split is made once,
before the timed runs. Two set-ups:

- ``local``: every sweep starts its own local Dask cluster of W single-threaded worker processes (the default
  of `fmnist sweep --workers W`) on Prefect's ephemeral API, and stops it at the end. Each worker process imports
  the frameworks of the trials it runs (with 2 workers each framework's trials prefer a worker of their own, so
  each imports one unless it steals a trial of the other) and the cluster shuts down inside the trials stage:
  fixed costs that more workers cannot share.
- ``existing``: a long-lived cluster of W workers started with `flows.dask_preload` (they imported and warmed
  up both frameworks when they started, so each trial goes to whichever worker is free), reached with
  `fmnist sweep --dask-address`, and a long-lived Prefect API server (the README's set-up for repeated
  sweeps). Its trials stage is the trials' own work and their scheduling.

Only what is measured runs: the set-ups take turns, and each long-lived cluster is started before its sweep
and stopped after it, since an idle cluster of 3 preloaded workers and its scheduler take about 12% of a core,
which a sweep on 2 cores loses. Before the timed sweep, a one-epoch, one-seed sweep (untimed) warms the cluster
up, as the sweeps before it would have.

With ``--split-store mlflow`` the flow publishes the split to the artifact store (here the SQLite store's artifact
folder) and each trial fetches it into its worker's cache (``$FMNIST_CACHE_DIR``, one throw-away folder per
run), as workers on other hosts do.

Prints, per set-up and worker count, the median wall time of the whole command and of its trials stage, the
speedups against the first worker count (target >= 1.7x for 2 workers on a 2-core machine), and where the
local cluster's trials stage goes: start-up until the first trial runs, the trials, shut-down after the last.
Every command also starts Prefect's ephemeral API (unless one is configured) and opens and closes the sweep's runs:
seconds outside the trials stage, which no worker can share; the shorter the trials, the more of the whole command
that is (``--epochs 2`` shows it).
Runs alternate between worker counts, so load from anything else on the machine spreads over both; each line
shows the 5-minute load average, since a speedup needs idle cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from fmnist.ops.loopback import free_port


@contextlib.contextmanager
def existing_cluster(workers: int) -> Iterator[str]:
    """A long-lived cluster of ``workers`` single-threaded worker processes with the sweep's Dask settings and
    worker preload (`flows.dask_preload`, as the `dask worker` command of docs/operations.md); yields its
    scheduler address."""
    import dask
    from distributed import LocalCluster

    from flows.trials import TRAINING_DASK_CONFIG, dask_task_runner
    from fmnist.experiments.cluster import ClusterSpec

    # The local cluster `fmnist sweep --workers W` starts, plus the worker preload.
    with dask.config.set(dict(TRAINING_DASK_CONFIG)):
        cluster = LocalCluster(
            **dask_task_runner(ClusterSpec(workers=workers)).cluster_kwargs, preload=["flows.dask_preload"]
        )
    with cluster:
        yield cluster.scheduler_address


@contextlib.contextmanager
def prefect_server(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A Prefect API server that outlives the sweeps (the README's set-up for a long-lived cluster); yields
    ``env`` pointed at it. Workers started meanwhile report to it too."""
    port = free_port()
    prefect = str(Path(sys.executable).parent / "prefect")
    command = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui", "--analytics-off"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{api_url}/health", timeout=2):
                    break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("the Prefect server did not start")
                time.sleep(0.5)
        os.environ["PREFECT_API_URL"] = api_url
        yield {**env, "PREFECT_API_URL": api_url}
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.terminate()
        server.wait(timeout=30)


def sweep(fmnist: str, args: argparse.Namespace, workers: int, address: str | None, work: Path,
          env: dict[str, str], seeds: int | None = None, epochs: int | None = None) -> dict:  # fmt: skip
    where = ["--dask-address", address] if address else ["--workers", str(workers)]
    command = [fmnist, "--quiet", "sweep", "--data-source", str(args.data), "--frameworks", "keras,torch",
               "--seeds", str(seeds or args.seeds), "--max-epochs", str(epochs or args.epochs), *where,
               "--work-dir", str(work), "--experiment", f"bench-sweep-w{workers}", "--split-store", args.split_store,
               "--json"]  # fmt: skip
    start = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.time() - start
    if done.returncode != 0:
        sys.exit(f"`fmnist sweep` with {workers} worker(s) failed:\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    timings, trials = summary["timings"], summary["trials"]
    stage_start = timings["flow_started_at"] + sum(timings[k] for k in ("start_tracking", "data"))
    first = min(t["started_at"] for t in trials)
    last = max(t["finished_at"] for t in trials)
    frameworks_of: dict[int, set[str]] = {}
    for t in trials:
        frameworks_of.setdefault(t["worker_pid"], set()).add(t["framework"])
    return {"wall": wall, "trials": timings["trials"], "pids": len(frameworks_of),
            "mixed": sum(len(f) > 1 for f in frameworks_of.values()),
            "n": len(trials), "to_first": first - stage_start, "running": last - first,
            "after_last": stage_start + timings["trials"] - last}  # fmt: skip


def report(setup: str, counts: list[int], results: dict[int, list[dict]]) -> None:
    base_wall = statistics.median(r["wall"] for r in results[counts[0]])
    base_trials = statistics.median(r["trials"] for r in results[counts[0]])
    print(f"  {setup}:")
    for w in counts:
        med = {k: statistics.median(r[k] for r in results[w]) for k in results[w][0]}
        print(f"    {w} worker(s)   whole command {med['wall']:6.1f} ({base_wall / med['wall']:.2f}x)   trials stage "
              f"{med['trials']:6.1f} ({base_trials / med['trials']:.2f}x)   [until the first trial "
              f"{med['to_first']:4.1f}, trials {med['running']:5.1f}, "
              f"after the last {med['after_last']:4.1f}]")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=os.environ.get("FMNIST_DATA_DIR"))
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, the first is the baseline")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--setups", default="local,existing", help="local, existing or both (comma-separated)")
    parser.add_argument(
        "--split-store", default="local", choices=["local", "mlflow"],
        help="mlflow: trials fetch the split from the artifact store into their worker's cache (fmnist sweep's option)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.data is None:
        parser.error("pass --data DIR or set FMNIST_DATA_DIR")
    counts = [int(w) for w in args.workers.split(",")]
    setups = args.setups.split(",")
    fmnist = str(Path(sys.executable).parent / "fmnist")
    results: dict[str, dict[int, list[dict]]] = {s: {w: [] for w in counts} for s in setups}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["PREFECT_HOME"] = str(work / "prefect")
        os.environ["FMNIST_CACHE_DIR"] = str(work / "cache")  # long-lived workers start from this process
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "TF_CPP_MIN_LOG_LEVEL": "2"}
        subprocess.run([fmnist, "--quiet", "split", "--data-source", str(args.data), "--seed", "42",
                        "--out", str(work / "data" / "splits" / "seed-42")], env=env, check=True)  # fmt: skip
        for setup in setups:
            existing = setup == "existing"
            with prefect_server(env) if existing else contextlib.nullcontext(env) as run_env:
                for i in range(args.repeats):
                    for w in counts if i % 2 == 0 else counts[::-1]:
                        with existing_cluster(w) if existing else contextlib.nullcontext() as address:
                            if existing:  # untimed: a long-lived cluster has run sweeps before
                                sweep(fmnist, args, w, address, work / "data", run_env, seeds=1, epochs=1)
                            r = sweep(fmnist, args, w, address, work / "data", run_env)
                        results[setup][w].append(r)
                        print(f"  repeat {i + 1}, {setup}, {w} worker(s): {r['wall']:6.1f} s wall, trials stage "
                              f"{r['trials']:6.1f} s ({r['n']} trials in {r['pids']} process(es), {r['mixed']} of "
                              f"them ran both frameworks), load average {os.getloadavg()[1]:.1f}",
                              flush=True)  # fmt: skip

    print(f"\n2 frameworks x {args.seeds} seeds, {args.epochs} epochs each, {args.repeats} repeats, "
          f"{os.cpu_count()} CPUs, split store {args.split_store}; medians (wall seconds)")  # fmt: skip
    for setup in setups:
        report(setup, counts, results[setup])
    print("  target: >= 1.7x for 2 workers against 1")


if __name__ == "__main__":
    main()
