"""Adding a labelled batch: validation, duplicate check and drift checks of a 10,000-image batch.

    python benchmarks/bench_batches.py --data SPLIT_DIR [--images 10000] [--repeats 5]

Draws a shifted batch of ``--images`` training images (``fmnist make-batch``'s generator), writes it as a folder
of PNGs with ``labels.csv``, and times, into a throw-away batch store, each step of what ``fmnist ingest --add``
does before it announces the batch: read and validate every file, compute the keys of every image held (the base
release) and refuse duplicates, record the batch (two Parquet files, renamed into place), and the label and pixel
drift checks against the training images. The champion's accuracy check is timed apart, the first call in the
process and later ones: it scores the champion from its ``network.npz`` in NumPy, importing no framework (a
champion logged before that file existed imports its framework, which the printout shows). The plain reference
is the least any of this can cost: opening every PNG with Pillow. Prints medians; target: the add (validation,
duplicates, record, drift, the champion's first check) <= 5 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_split_store import median_seconds  # the scripts run from this folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="split folder written by `fmnist split`")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tracking-uri", help="an MLflow store with fmnist@champion: time the champion check too")
    args = parser.parse_args()

    from PIL import Image

    from fmnist.data.batch_store import accept_batch
    from fmnist.data.labelled_batch import read_labelled_batch
    from fmnist.data.manifest import read_verified_split
    from fmnist.data.shifts import Shift, draw_batch, write_batch
    from fmnist.evaluate.drift import check_drift
    from fmnist.retrain.new_batch import held_keys

    pixels, labels = read_verified_split(args.data, "train")
    batch_x, batch_y = draw_batch(pixels, labels, args.images, Shift(brightness=30, rotate=10), seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_batch(Path(tmp) / "batch", batch_x, batch_y, "png")
        files = sorted(folder.glob("*.png"))

        def reference() -> None:
            for path in files:
                with Image.open(path) as image:
                    np.asarray(image)

        batch = read_labelled_batch(folder)
        keys = held_keys(args.data, Path(tmp) / "none")
        stores = iter(range(1_000))

        def record() -> None:
            accept_batch(Path(tmp) / f"store-{next(stores)}", batch, "bench", keys, added_at="now")

        steps = {
            "read + validate PNGs": lambda: read_labelled_batch(folder),
            "keys of every image held": lambda: held_keys(args.data, Path(tmp) / "none"),
            "duplicate check + record": record,
            "label + pixel drift checks": lambda: check_drift(pixels, labels, batch.pixels, batch.labels),
        }
        print(f"{args.images:,}-image batch, {len(labels):,} training images held; median of {args.repeats} runs")
        plain = median_seconds(reference, args.repeats)
        print(f"  {'reference: open every PNG (Pillow)':40} {plain:7.2f} s")
        total = 0.0
        for name, fn in steps.items():
            seconds = median_seconds(fn, args.repeats)
            total += seconds
            print(f"  {name:40} {seconds:7.2f} s")
        if args.tracking_uri:
            from fmnist.retrain.new_batch import champion_scores
            from fmnist.tracking import Tracker

            tracker = Tracker(args.tracking_uri)
            version = tracker.alias_version("fmnist", "champion")
            first = time.perf_counter()
            champion_scores(tracker, args.data, version, batch.pixels, batch.labels)  # imports the framework
            cold = time.perf_counter() - first
            warm = median_seconds(
                lambda: champion_scores(tracker, args.data, version, batch.pixels, batch.labels), args.repeats
            )
            framework = tracker.version_tags("fmnist", version).get("framework")
            imported = [name for name in ("tensorflow", "torch") if name in sys.modules] or ["none"]
            print(f"  {'champion check (' + str(framework) + '), first in process':40} {cold:7.2f} s")
            print(f"  {'  frameworks imported by it':40} {', '.join(imported)}")
            print(f"  {'champion check, framework loaded':40} {warm:7.2f} s")
            total += cold
        verdict = "meets" if total <= 5 else "misses"
        print(f"  {'add, all steps':40} {total:7.2f} s  ({total / plain:.1f}x the reference; {verdict} <= 5 s)")


if __name__ == "__main__":
    main()
