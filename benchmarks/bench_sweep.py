"""Scale-out of `fmnist sweep`: the same sweep on a local Dask cluster of 1 worker and of 2 workers.

    python benchmarks/bench_sweep.py --data DATA_DIR [--seeds 4] [--epochs 2] [--workers 1,2] [--repeats 3]

Each run is `fmnist sweep --json` in a fresh process (Prefect's embedded API, a new local Dask cluster of W
single-threaded worker processes, MLflow in a throw-away SQLite store): both frameworks × ``--seeds`` seeds, the
preset's grid point, ``--epochs`` epochs each, on the real data. The split is made once, before the timed runs.
Prints, per worker count, the median wall time of the whole command and of its trials stage (cluster start-up,
every training with its MLflow logging, cluster shut-down), and the speedups against the first worker count
(target >= 1.7x for 2 workers on a 2-core machine). Runs alternate between worker counts, so load from anything
else on the machine spreads over both; each line shows the 5-minute load average, since a speedup needs idle
cores ("s inside them": the trainings' own seconds, summed; it grows when workers compete for the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sweep(fmnist: str, args: argparse.Namespace, workers: int, work: Path, env: dict[str, str]) -> dict:
    command = [fmnist, "--quiet", "sweep", "--data-source", str(args.data), "--frameworks", "keras,torch",
               "--seeds", str(args.seeds), "--max-epochs", str(args.epochs), "--workers", str(workers),
               "--work-dir", str(work), "--experiment", f"bench-sweep-w{workers}", "--json"]  # fmt: skip
    start = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.time() - start
    if done.returncode != 0:
        sys.exit(f"`fmnist sweep --workers {workers}` failed:\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    pids = {t["worker_pid"] for t in summary["trials"]}
    busy = sum(t["seconds"] for t in summary["trials"])  # inside the trainings: data, epochs, MLflow logging
    return {"wall": wall, "trials": summary["timings"]["trials"], "busy": busy, "pids": len(pids),
            "n": len(summary["trials"])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=os.environ.get("FMNIST_DATA_DIR"))
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, the first is the baseline")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.data is None:
        parser.error("pass --data DIR or set FMNIST_DATA_DIR")
    counts = [int(w) for w in args.workers.split(",")]
    fmnist = str(Path(sys.executable).parent / "fmnist")
    results: dict[int, list[dict]] = {w: [] for w in counts}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "TF_CPP_MIN_LOG_LEVEL": "2",
               "PREFECT_HOME": str(work / "prefect")}  # fmt: skip
        subprocess.run([fmnist, "--quiet", "split", "--data-source", str(args.data), "--seed", "42",
                        "--out", str(work / "data" / "splits" / "seed-42")], env=env, check=True)  # fmt: skip
        for i in range(args.repeats):
            for w in counts if i % 2 == 0 else counts[::-1]:
                results[w].append(sweep(fmnist, args, w, work / "data", env))
                r = results[w][-1]
                print(f"  repeat {i + 1}, {w} worker(s): {r['wall']:6.1f} s wall, trials stage {r['trials']:6.1f} s "
                      f"({r['n']} trials in {r['pids']} process(es), {r['busy']:.1f} s inside them), "
                      f"load average {os.getloadavg()[1]:.1f}", flush=True)  # fmt: skip

    print(f"\n2 frameworks x {args.seeds} seeds, {args.epochs} epochs each, {args.repeats} repeats, "
          f"{os.cpu_count()} CPUs; medians (wall seconds)")  # fmt: skip
    base = counts[0]
    base_wall = statistics.median(r["wall"] for r in results[base])
    base_trials = statistics.median(r["trials"] for r in results[base])
    for w in counts:
        wall = statistics.median(r["wall"] for r in results[w])
        trials = statistics.median(r["trials"] for r in results[w])
        print(f"  {w} worker(s)   whole command {wall:7.1f}  ({base_wall / wall:.2f}x)   "
              f"trials stage {trials:7.1f}  ({base_trials / trials:.2f}x)")  # fmt: skip
    print("  target: >= 1.7x for 2 workers against 1 (trials stage)")


if __name__ == "__main__":
    main()
