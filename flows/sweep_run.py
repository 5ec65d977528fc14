"""Run the ``fmnist-sweep`` flow in this process on Prefect's embedded API: ``python -m flows.sweep_run``.

``fmnist sweep`` calls this in a child process (the library itself never imports Prefect). Parameters come as
one JSON object; the last line printed is the sweep's JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os

from fmnist.experiment import SUMMARY_PREFIX

# Offline-friendly defaults, set before Prefect reads its settings: no analytics, and a generous start-up
# time for the embedded server on a busy 2-core machine.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="{}", help="flow parameters as a JSON object")
    args = parser.parse_args()
    from flows.sweep import fmnist_sweep

    summary = fmnist_sweep(**json.loads(args.params))
    print(SUMMARY_PREFIX + json.dumps(summary, default=str), flush=True)


if __name__ == "__main__":
    main()
