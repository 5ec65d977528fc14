"""Where an ablation's time goes: one `fmnist ablate --json`, its wall time per stage, and how busy its workers were.

    python benchmarks/bench_ablation.py --data DATA_DIR [--factors a,b] [--seeds 5] [--split-seeds 1]
                                        [--epochs N] [--workers W] [--keep DIR]

Runs `fmnist --quiet ablate ... --json` in a fresh process, on an MLflow store and Prefect home of its own (in a
temporary folder, or in ``--keep DIR``, which is then left in place for `fmnist report` and the MLflow UI), and
prints:

- the wall time of the whole command and of each stage of the flow (the rest is the process start-up, imports and
  Prefect's ephemeral API);
- the trials stage's worker utilisation: W workers × the stage's wall time are the worker-seconds it had; the share
  spent inside training epochs (every trial's ``epoch_seconds``, read back from MLflow: the training passes only),
  and where the rest went: the rest of each training (a worker's first trial imports its framework; model build,
  validation, checkpoints, tracking), loading the split, logging the model, scoring, the rest of each trial, and the
  time workers held no trial (before their first one: cluster start-up and scheduling; between trials; after
  their last one, waiting for the others);
- the ablation's table, as the parent run holds it.

With no options it runs the full default ablation (every factor, 5 seeds, the preset's epochs with early
stopping, one worker per CPU): about 20 minutes or more of the whole machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

STAGES = ("start_tracking", "data", "trials", "evaluate", "finish_tracking", "report")


def run_ablation(args: argparse.Namespace, work: Path) -> tuple[dict, float, str]:
    """`fmnist ablate --json` in a fresh process; returns its summary, its wall seconds and the MLflow store."""
    uri = f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"
    (work / "mlruns").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PREFECT_HOME": str(work / "prefect-home"),
           "TF_CPP_MIN_LOG_LEVEL": "2"}  # fmt: skip
    command = [str(Path(sys.executable).parent / "fmnist"), "--quiet", "ablate", "--data-source", str(args.data),
               "--seeds", str(args.seeds), "--split-seeds", str(args.split_seeds), "--workers", str(args.workers),
               "--work-dir", str(work / "data"), "--experiment", "bench-ablation", "--json"]  # fmt: skip
    command += ["--factors", args.factors] if args.factors else []
    command += ["--max-epochs", str(args.epochs)] if args.epochs else []
    print(" ".join(command), flush=True)
    start = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.time() - start
    if done.returncode != 0:
        sys.exit(f"`fmnist ablate` failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall, uri


def utilisation(summary: dict, workers: int, uri: str) -> tuple[float, dict[str, float]]:
    """The trials stage's worker-seconds and how they were spent."""
    from fmnist.tracking import Tracker

    tracker = Tracker(uri, "bench-ablation")
    timings, trials = summary["timings"], summary["trials"]
    stage_start = timings["flow_started_at"] + timings["start_tracking"] + timings["data"]
    stage_end = stage_start + timings["trials"]
    spent: dict[str, float] = defaultdict(float)
    by_worker: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for t in trials:
        epochs = sum(value for _, value in tracker.metric_history(t["run_id"], "epoch_seconds"))
        parts = t["timings"]
        spent["inside training epochs"] += epochs
        spent["rest of each training"] += parts["train"] - epochs
        spent["loading the split"] += parts["load"]
        spent["logging the model"] += parts["log_model"]
        spent["scoring"] += parts["score"]
        spent["rest of each trial"] += t["finished_at"] - t["started_at"] - sum(parts.values())
        by_worker[t["worker_pid"]].append((t["started_at"], t["finished_at"]))
    for spans in by_worker.values():
        spans.sort()
        spent["idle before the first trial"] += spans[0][0] - stage_start
        spent["idle between trials"] += sum(b[0] - a[1] for a, b in itertools.pairwise(spans))
        spent["idle after the last trial"] += stage_end - spans[-1][1]
    spent["idle after the last trial"] += (workers - len(by_worker)) * timings["trials"]  # workers never used
    return workers * timings["trials"], dict(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=os.environ.get("FMNIST_DATA_DIR"))
    parser.add_argument("--factors", default=None, help="comma-separated factors (default: all)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--split-seeds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None, help="max epochs per trial (default: the preset's)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, default=None, help="keep the work folder and MLflow store here")
    args = parser.parse_args()
    if args.data is None:
        parser.error("pass --data DIR or set FMNIST_DATA_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        work = (args.keep or Path(tmp)).absolute()
        summary, wall, uri = run_ablation(args, work)
        available, spent = utilisation(summary, args.workers, uri)
    timings = summary["timings"]
    n = len(summary["trials"])
    print(f"\n{n} trials ({len(summary['missing'])} missing) on {args.workers} worker(s), {os.cpu_count()} CPUs, "
          f"5-minute load average {os.getloadavg()[1]:.1f}; wall seconds")  # fmt: skip
    print(f"  whole command          {wall:8.1f}")
    for stage in STAGES:
        print(f"    {stage:<20} {timings.get(stage, 0.0):8.1f}")
    print(f"    {'outside the flow':<20} {wall - sum(timings.get(s, 0.0) for s in STAGES):8.1f}")
    print(f"  trials stage: {args.workers} worker(s) × {timings['trials']:.1f} s = {available:.1f} worker-seconds")
    for name, seconds in spent.items():
        print(f"    {name:<28} {seconds:8.1f}  {100 * seconds / available:5.1f}%")
    print(f"    {'(unaccounted)':<28} {available - sum(spent.values()):8.1f}")
    print()
    print(summary["ablation_markdown"])
    if args.keep:
        print(f"kept in {args.keep}: MLFLOW_TRACKING_URI={uri} fmnist report --run-id {summary['parent_run_id']}")


if __name__ == "__main__":
    main()
