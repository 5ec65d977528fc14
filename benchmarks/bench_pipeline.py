"""The whole pipeline against the plain reference scripts of both frameworks run back to back.

    python benchmarks/bench_pipeline.py --data DATA_DIR [--epochs 10] [--repeats 3]

Times, on the same machine in the same run:
- reference: `reference/torch_plain.py` then `reference/keras_plain.py` (a DataLoader loop and `model.fit`,
  the same network, batch 64, the same number of epochs), each a fresh Python process, one after the other;
- ours: `fmnist run --preset seed --max-epochs E` (Prefect's ephemeral API, both trainings side by side in their own
  Dask worker processes, MLflow logging of every epoch, checkpoint and model, evaluation with statistics and figures,
  registration), first with a cold work folder (ingest + split run), then with the split cached.
Prints medians and the ratio (target <= 1.0x), and the stage breakdown of the pipeline.
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

HERE = Path(__file__).resolve().parent


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.time()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=3600)
    seconds = time.time() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=os.environ.get("FMNIST_DATA_DIR"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.data is None:
        parser.error("pass --data DIR or set FMNIST_DATA_DIR")
    python = sys.executable
    fmnist = str(Path(python).parent / "fmnist")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "TF_CPP_MIN_LOG_LEVEL": "2"}
        subprocess.run([fmnist, "--quiet", "split", "--data-source", str(args.data), "--out", str(work / "ref")],
                       env=env, check=True)  # fmt: skip
        reference, ours_cold, ours_cached, summaries = [], [], [], []
        for i in range(args.repeats):
            t_torch, _ = timed(
                [python, str(HERE / "reference" / "torch_plain.py"), str(work / "ref"), str(args.epochs)], env, work
            )
            t_keras, _ = timed(
                [python, str(HERE / "reference" / "keras_plain.py"), str(work / "ref"), str(args.epochs)], env, work
            )
            reference.append((t_torch + t_keras, t_torch, t_keras))
            run = [fmnist, "--quiet", "run", "--data-source", str(args.data), "--preset", "seed",
                   "--max-epochs", str(args.epochs), "--work-dir", str(work / f"w{i}"), "--json"]  # fmt: skip
            for bucket in (ours_cold, ours_cached):
                launched = time.time()
                seconds, out = timed(run, env, work)
                summary = json.loads(out.strip().splitlines()[-1])
                timings = summary["timings"]
                timings["startup"] = timings["flow_started_at"] - launched
                # After the flow: the command's exit (Prefect's last logs, its ephemeral server's stop).
                stages = sum(v for k, v in timings.items() if k != "flow_started_at")
                timings["exit"] = seconds - stages
                bucket.append(seconds)
                summaries.append((bucket is ours_cold, summary))

    ref = statistics.median(r[0] for r in reference)
    print(f"{args.epochs} epochs per framework, {args.repeats} repeats, medians (wall seconds)")
    print(f"  reference, back to back   {ref:7.1f}   (torch {statistics.median(r[1] for r in reference):.1f}"
          f" + keras {statistics.median(r[2] for r in reference):.1f})")  # fmt: skip
    for name, values in (("fmnist run, cold", ours_cold), ("fmnist run, split cached", ours_cached)):
        med = statistics.median(values)
        print(f"  {name:25} {med:7.1f}   {med / ref:.2f}x the reference (target <= 1.0x)")
    print("\nbreakdown of `fmnist run` (medians over runs; cold / cached):")
    keys = ["startup", "start_tracking", "data", "train", "evaluate", "register", "finish_tracking",
            "report", "exit"]  # fmt: skip
    for key in keys:
        cold = statistics.median(s["timings"].get(key, 0.0) for c, s in summaries if c)
        warm = statistics.median(s["timings"].get(key, 0.0) for c, s in summaries if not c)
        print(f"  {key:18} {cold:6.2f} / {warm:6.2f}")
    for fw in ("keras", "torch"):
        parts = {
            k: statistics.median(s["frameworks"][fw]["timings"][k] for _, s in summaries)
            for k in ("load", "train", "log_model")
        }
        print(f"  {fw} process: load {parts['load']:.2f}, train {parts['train']:.2f} (incl. async per-epoch logging),"
              f" log model {parts['log_model']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
