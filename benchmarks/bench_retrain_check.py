"""A scheduled retrain with nothing new: how long from the deployment run's creation to its Completed state.

    python benchmarks/bench_retrain_check.py --data DATA_DIR [--repeats 3]

Starts the local stack (`fmnist stack up`: Prefect server, MLflow server, process worker on loopback, the
deployments of prefect.yaml), trains a champion once through `fmnist-retrain/retrain-on-new-data` (one epoch of
the `seed` recipe), then runs `fmnist-retrain/scheduled-retrain` ``--repeats`` times: each finds the data the
champion was trained on and ends without training. Prints, per run and as medians, the time from the flow
run's creation to its end (what a user waits for), split into the wait for the worker to start it and the flow
run itself (prepare the data from cache, compare data versions, record the decision). Plain reference in the
same run: a fresh Python importing the flow's module, the least a process worker's flow run costs before its
first line. Target: <= 15 s in all. Stops the stack at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).parent / "prefect")


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=os.environ.get("FMNIST_DATA_DIR"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from fmnist.ops.stack import StackConfig, client_env, down, up

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        state = up(StackConfig(ROOT, base / "state", base / "mlruns", start_timeout=240))
        try:
            env = client_env(state)
            auth = tuple(env["PREFECT_API_AUTH_STRING"].split(":", 1))
            api = state.prefect_api_url
            params = {"data_source": str(args.data), "work_dir": str(base / "work"), "experiment": "bench",
                      "preset": "seed", "max_epochs": 1}  # fmt: skip
            for name in ("retrain-on-new-data", "scheduled-retrain"):
                deployment = httpx.get(f"{api}/deployments/name/fmnist-retrain/{name}", auth=auth, timeout=30).json()
                body = {"parameters": {**deployment["parameters"], **params}}
                httpx.patch(
                    f"{api}/deployments/{deployment['id']}", json=body, auth=auth, timeout=30
                ).raise_for_status()

            def run(name: str) -> dict:
                done = subprocess.run(
                    [PREFECT, "deployment", "run", f"fmnist-retrain/{name}", "--watch", "--watch-timeout", "900"],
                    env=env, capture_output=True, text=True, timeout=960,
                )  # fmt: skip
                if done.returncode != 0:
                    sys.exit(f"{name} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
                run_id = next(ln.split("UUID:")[1].strip() for ln in done.stdout.splitlines() if "UUID:" in ln)
                return httpx.get(f"{api}/flow_runs/{run_id}", auth=auth, timeout=30).json()

            run("retrain-on-new-data")  # the champion
            reference = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", "import flows.retrain"], cwd=ROOT, check=True)
                reference.append(time.perf_counter() - start)
            rows = []
            print(f"scheduled retrain with nothing new, {args.repeats} runs (stack on loopback, process worker)")
            for i in range(args.repeats):
                flow_run = run("scheduled-retrain")
                assert flow_run["state_type"] == "COMPLETED" and "not retrained" in flow_run["state"]["message"]
                total = _seconds(flow_run["created"], flow_run["end_time"])
                waiting = _seconds(flow_run["created"], flow_run["start_time"])
                rows.append((total, waiting, total - waiting))
                print(
                    f"  run {i + 1}: {total:5.1f} s  (worker start {waiting:4.1f} s, flow run {total - waiting:4.1f} s)"
                )
        finally:
            down(state.state_dir)
    total, waiting, running = (statistics.median(column) for column in zip(*rows, strict=True))
    print(f"  reference: a fresh Python importing flows.retrain  {statistics.median(reference):5.1f} s")
    verdict = "meets" if total <= 15 else "misses"
    print(f"  median: {total:5.1f} s (worker start {waiting:4.1f} s, flow run {running:4.1f} s); {verdict} <= 15 s")


if __name__ == "__main__":
    main()
