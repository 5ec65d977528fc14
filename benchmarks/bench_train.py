"""Training speed of our trainers against plain reference loops, on one thread.

    python benchmarks/bench_train.py --data DIR [--epochs 3] [--threads 1]

DIR holds train.parquet and val.parquet. Prints seconds/epoch (median over epochs, training pass
only), samples/s, the ratio to the reference, and the compute floor: the network's FLOPs per
epoch (about 3 x 2 x params x samples: forward, and a backward twice as costly) divided by a
measured single-thread float32 matmul rate. Targets: PyTorch <= 1.0x, Keras <= 0.8x reference.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np


def matmul_flops_per_second(threads: int) -> float:
    """Best-of-5 float32 GEMM rate (torch, ``threads`` threads), at this network's layer shapes."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.rand(256, 784), torch.rand(784, 128)
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(200):
            torch.mm(a, b)
        best = max(best, 200 * 2 * 256 * 784 * 128 / (time.perf_counter() - t0))
    return best


def torch_reference(x: np.ndarray, y: np.ndarray, epochs: int, threads: int) -> list[float]:
    """The textbook loop: DataLoader(TensorDataset), batch 64, shuffle, Adam, CrossEntropyLoss."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from fmnist.config import get_preset
    from fmnist.models.torch_net import build_model

    torch.set_num_threads(threads)
    model = build_model(get_preset("seed").model, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = DataLoader(
        TensorDataset(torch.from_numpy(x / np.float32(255)), torch.from_numpy(y.astype(np.int64))),
        batch_size=64,
        shuffle=True,
    )
    times = []
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
        times.append(time.perf_counter() - t0)
    return times


def keras_reference(x: np.ndarray, y: np.ndarray, epochs: int) -> list[float]:
    """`model.fit` on numpy arrays, batch 64, every other setting left at its default."""
    import keras

    from fmnist.config import get_preset
    from fmnist.models.keras_net import build_model

    model = build_model(get_preset("seed").model, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            times.append(time.perf_counter() - self.t0)

    model.fit(x / np.float32(255), y, batch_size=64, epochs=epochs, verbose=0, callbacks=[Timer()])
    return times


def ours(framework: str, data: object, epochs: int, threads: int) -> list[float]:
    """Our `fit` with the seed preset (batch 64), no early stop within ``epochs``."""
    from fmnist.config import get_preset
    from fmnist.train.trainers import trainer

    preset = get_preset("seed")
    train_cfg = dataclasses.replace(preset.train, max_epochs=epochs, patience=epochs, threads=threads)
    result = trainer("torch" if framework == "pytorch" else "keras").fit(data, preset.model, train_cfg)
    return [m.epoch_seconds for m in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with train.parquet and val.parquet")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from fmnist.config import ModelConfig
    from fmnist.models.numpy_net import count_trainable_params
    from fmnist.train.keras_backend import configure_threads
    from fmnist.train.loop import load_train_data

    configure_threads(args.threads)  # before TensorFlow runs anything
    data = load_train_data(args.data)
    n = len(data.x_train)
    rate = matmul_flops_per_second(args.threads)
    floor = 3 * 2 * count_trainable_params(ModelConfig()) * n / rate

    x, y = data.x_train, data.y_train
    rows = [
        ("pytorch", "reference DataLoader loop", torch_reference(x, y, args.epochs, args.threads)),
        ("pytorch", "fmnist TorchBackend.fit", ours("pytorch", data, args.epochs, args.threads)),
        ("keras", "reference model.fit(numpy)", keras_reference(x, y, args.epochs)),
        ("keras", "fmnist KerasBackend.fit", ours("keras", data, args.epochs, args.threads)),
    ]
    print(f"{n} training samples, batch 64, {args.epochs} epochs, {args.threads} thread(s)")
    print(f"matmul rate {rate / 1e9:.1f} GFLOP/s -> compute floor {floor:.3f} s/epoch\n")
    print(f"{'framework':<9} {'trainer':<28} {'s/epoch':>8} {'samples/s':>10} {'vs ref':>7} {'vs floor':>9}")
    reference: dict[str, float] = {}
    for framework, name, times in rows:
        median = statistics.median(times)
        reference.setdefault(framework, median)
        print(
            f"{framework:<9} {name:<28} {median:8.3f} {n / median:10.0f} "
            f"{median / reference[framework]:6.2f}x {median / floor:8.1f}x"
        )


if __name__ == "__main__":
    main()
