"""Run a flow in this process on Prefect's embedded API: ``python -m flows.run [--flow NAME] --params JSON``.

``fmnist run`` and ``fmnist sweep`` call this in a child process (the library itself never imports Prefect).
Parameters come as one JSON object; the last line printed is the flow's JSON summary.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os

from fmnist.experiment import SUMMARY_PREFIX

# Offline-friendly defaults, set before Prefect reads its settings: no analytics, and a generous start-up
# time for the embedded server on a busy 2-core machine.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# --flow NAME → (module, flow function)
FLOWS = {"pipeline": ("flows.pipeline", "fmnist_pipeline"), "sweep": ("flows.sweep", "fmnist_sweep")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flow", choices=sorted(FLOWS), default="pipeline")
    parser.add_argument("--params", default="{}", help="flow parameters as a JSON object")
    args = parser.parse_args()
    module, name = FLOWS[args.flow]
    flow = getattr(importlib.import_module(module), name)
    summary = flow(**json.loads(args.params))
    print(SUMMARY_PREFIX + json.dumps(summary, default=str), flush=True)


if __name__ == "__main__":
    main()
