"""Benchmark: ingest + split of the real data, against the floor of only decompressing the four gz files.

Usage: python benchmarks/bench_data.py [--data DIR] [--repeats N]   (DIR defaults to $FMNIST_DATA_DIR)
Prints the median and the spread of each stage; target: ingest + split <= 3 s on 2 cores.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fmnist.data.ingest import RELEASE_FILES, ingest, load
from fmnist.data.parquet import read_split
from fmnist.data.prepare import prepare_splits


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=os.environ.get("FMNIST_DATA_DIR"))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.data is None:
        parser.error("pass --data DIR or set FMNIST_DATA_DIR")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rows = {
            "floor: gzip-decompress the 4 files": timed(
                lambda: [gzip.decompress((args.data / n).read_bytes()) for n in RELEASE_FILES.values()],
                args.repeats,
            ),
            "ingest (md5 x4)": timed(lambda: ingest(args.data), args.repeats),
            "ingest + parse/validate": timed(lambda: load(ingest(args.data)), args.repeats),
            "ingest + split to Parquet": timed(lambda: prepare_splits(ingest(args.data), out), args.repeats),
            "read train.parquet to numpy": timed(lambda: read_split(out / "train.parquet"), args.repeats),
        }
    floor = statistics.median(rows["floor: gzip-decompress the 4 files"])
    print(f"{'stage':40} {'median s':>9} {'min s':>7} {'max s':>7} {'x floor':>8}   ({args.repeats} runs)")
    for name, times in rows.items():
        med = statistics.median(times)
        print(f"{name:40} {med:9.3f} {min(times):7.3f} {max(times):7.3f} {med / floor:8.2f}")
    total = statistics.median(rows["ingest + split to Parquet"])
    print(f"\ningest + split: {total:.2f} s (target <= 3 s): {'met' if total <= 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
