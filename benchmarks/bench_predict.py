"""Batch prediction speed: the logged pyfunc model against the bare framework model, one core.

    python benchmarks/bench_predict.py --data SPLIT_DIR [--repeats 7]

Trains each framework for one epoch into a throw-away MLflow store (the speed of prediction does not depend on
how well the model is trained), loads the logged model with ``mlflow.pyfunc.load_model`` and times
``predict`` on the 10,000 official-test images (raw uint8 pixels in, probabilities out: the pyfunc path includes
input validation and preprocessing). The plain reference is the framework model called directly on
preprocessed float32 inputs. Prints the median of several runs; target: >= 50,000 images/s through pyfunc.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="split folder written by `fmnist split`")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import mlflow
    import torch

    from fmnist.config import get_preset
    from fmnist.data.parquet import read_split
    from fmnist.models.numpy_net import preprocess
    from fmnist.serve.model import Classifier
    from fmnist.tracking import Tracker
    from fmnist.train.keras_backend import configure_threads
    from fmnist.train.tracked import train_framework
    from fmnist.train.trainers import FRAMEWORKS

    torch.set_num_threads(1)
    configure_threads(1)
    pixels, _ = read_split(args.data / "official_test.parquet")
    preset = get_preset("seed")
    print(f"{'framework':10} {'path':28} {'median s':>9} {'images/s':>10}   ({args.repeats} runs, 1 thread)")
    with tempfile.TemporaryDirectory() as tmp:
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db", "bench-predict")
        mlflow.set_tracking_uri(tracker.uri)
        parent = tracker.start_parent("bench-predict")
        for fw in FRAMEWORKS:
            summary = train_framework(
                fw, args.data, preset.model, replace(preset.train, max_epochs=1), tracker=tracker,
                parent_run_id=parent, checkpoint_root=Path(tmp) / "ckpt", preset="seed",
            )  # fmt: skip
            model = mlflow.pyfunc.load_model(summary.model_uri)
            loaded = Classifier.from_run(tracker, summary.run_id, fw)
            bare, cfg = loaded.model, loaded.model_cfg
            x = preprocess(pixels, cfg)
            if fw == "torch":
                bare.eval()
                x_tensor = torch.from_numpy(x)

                def reference(bare=bare, x=x_tensor) -> object:
                    with torch.inference_mode():
                        return bare(x)
            else:

                def reference(bare=bare, x=x) -> object:
                    return bare(x, training=False)

            for name, fn in (("pyfunc (raw uint8 in)", lambda m=model: m.predict(pixels)), ("bare model", reference)):
                fn()  # warm-up: first calls build graphs and caches
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - start)
                med = statistics.median(times)
                print(f"{fw:10} {name:28} {med:9.4f} {len(pixels) / med:10,.0f}")


if __name__ == "__main__":
    main()
