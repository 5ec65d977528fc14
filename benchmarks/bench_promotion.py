"""How often the promotion rule promotes, measured on recorded official-test predictions of real trainings.

    python benchmarks/bench_promotion.py record --data SPLITS --out data/promotion [--seeds 8] [--epochs 10]
    python benchmarks/bench_promotion.py measure --predictions data/promotion [--alpha 0.05] [--min-gain 0]

``record`` trains PyTorch models of the ``seed`` and ``tuned`` recipes, ``--seeds`` seeds each, with at most
``--epochs`` epochs, and saves each model's official-test predictions (class per image) as
``<recipe>-seed<N>.npy`` beside ``labels.npy``. ``measure`` applies :func:`fmnist.registry.promotion.decide` to
every ordered (champion, challenger) pair: two seeds of the same recipe (a challenger no better by construction:
it should be promoted in at most 5 % of pairs), and every ``tuned`` challenger against every ``seed`` champion (a
clearly better recipe: it should be promoted every time). Prints both rates, and the decisions that break them.

Two seeds of one recipe are two different models, and a paired test compares models: a seed that early stopping
cut short is a worse model, and promoting a better seed over it is right. So ``measure`` also prints the rate
under the null hypothesis the test is built for, on the same pairs: for each same-recipe pair, each image's two
outcomes are swapped between the models with probability 1/2 (``--null-draws`` times, seeded), which makes the
two models equally good by construction while keeping their agreement structure.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

RECIPES = ("seed", "tuned")


def record(data: Path, out: Path, seeds: int, epochs: int) -> None:
    """Train ``seeds`` PyTorch models of each recipe and save their official-test predictions under ``out``."""
    from fmnist.config import get_preset
    from fmnist.data.parquet import read_split
    from fmnist.train.loop import load_train_data
    from fmnist.train.torch_backend import TorchBackend

    out.mkdir(parents=True, exist_ok=True)
    train_data = load_train_data(data)
    pixels, labels = read_split(data / "official_test.parquet")
    np.save(out / "labels.npy", labels)
    for recipe, seed in itertools.product(RECIPES, range(seeds)):
        preset = get_preset(recipe)
        train_cfg = replace(preset.train, seed=seed, max_epochs=min(epochs, preset.train.max_epochs))
        started = time.perf_counter()
        result = TorchBackend.fit(train_data, preset.model, train_cfg)
        predicted = TorchBackend.predict_proba(result.model, pixels, preset.model).argmax(axis=1).astype(np.uint8)
        np.save(out / f"{recipe}-seed{seed}.npy", predicted)
        print(
            f"{recipe} recipe, seed {seed}: {result.stopped_epoch} epochs (best {result.best_epoch}),"
            f" official test {np.mean(predicted == labels):.4f}, {time.perf_counter() - started:.0f} s",
            flush=True,
        )


def load(predictions: Path) -> dict[str, list[np.ndarray]]:
    """Recipe → per-image correctness of each recorded seed, in seed order."""
    labels = np.load(predictions / "labels.npy")
    found = {
        r: sorted(predictions.glob(f"{r}-seed*.npy"), key=lambda p: int(p.stem.rsplit("seed", 1)[1])) for r in RECIPES
    }
    if any(len(paths) < 2 for paths in found.values()):
        raise SystemExit(f"{predictions}: need at least 2 recorded seeds of each recipe; run `record` first")
    return {r: [np.load(p) == labels for p in paths] for r, paths in found.items()}


def exchangeable_null_rate(
    pairs: list[tuple[np.ndarray, np.ndarray]], alpha: float, min_gain: float, draws: int, seed: int = 0
) -> float:
    """The share of promotions when each image's two outcomes are swapped at random: two equally good models."""
    from fmnist.registry.promotion import decide

    rng = np.random.default_rng(seed)
    promoted = 0
    for champion, challenger in pairs:
        for _ in range(draws):
            swap = rng.random(len(champion)) < 0.5
            a, b = np.where(swap, challenger, champion), np.where(swap, champion, challenger)
            promoted += decide(b, a, alpha=alpha, min_gain=min_gain).promote
    return promoted / (len(pairs) * draws)


def measure(predictions: Path, alpha: float, min_gain: float, null_draws: int) -> None:
    from fmnist.evaluate.stats import seed_summary
    from fmnist.registry.promotion import decide

    correct = load(predictions)
    for recipe, runs in correct.items():
        mean, std = seed_summary([c.mean() for c in runs])
        print(f"{recipe}: {len(runs)} seeds, official test {100 * mean:.2f} ± {100 * std:.2f} % (mean ± std)")
    same = [
        (recipe, i, j, decide(runs[j], runs[i], alpha=alpha, min_gain=min_gain))
        for recipe, runs in correct.items()
        for i, j in itertools.permutations(range(len(runs)), 2)
    ]
    better = [
        ("tuned over seed", i, j, decide(correct["tuned"][j], correct["seed"][i], alpha=alpha, min_gain=min_gain))
        for i, j in itertools.product(range(len(correct["seed"])), range(len(correct["tuned"])))
    ]
    print(f"rule: {same[0][3].rule}")
    for label, pairs, wanted in (("identical recipe", same, False), ("better recipe", better, True)):
        pairs_of = Counter(recipe for recipe, *_ in pairs)
        promoted = Counter(recipe for recipe, *_, d in pairs if d.promote)
        by_recipe = ", ".join(f"{r} {promoted[r]} of {n}" for r, n in pairs_of.items())
        total = promoted.total()
        print(f"{label}: promoted in {total} of {len(pairs)} pairs ({100 * total / len(pairs):.1f} %): {by_recipe}")
        for recipe, i, j, d in pairs:
            if d.promote != wanted:
                print(f"  {recipe}: champion seed {i}, challenger seed {j}: {d.reason}")
    if null_draws:
        pairs = [(correct[r][i], correct[r][j]) for r, i, j, _ in same]
        rate = exchangeable_null_rate(pairs, alpha, min_gain, null_draws)
        print(f"equally good by construction (outcomes swapped per image, {null_draws} draws per pair): "
              f"promoted in {100 * rate:.2f} % of decisions")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    rec = steps.add_parser("record", help="train and save official-test predictions")
    rec.add_argument("--data", type=Path, required=True, help="split folder (train, val, official_test)")
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument("--seeds", type=int, default=8)
    rec.add_argument("--epochs", type=int, default=10, help="at most this many epochs per training")
    mes = steps.add_parser("measure", help="promotion rates over the recorded predictions")
    mes.add_argument("--predictions", type=Path, required=True)
    mes.add_argument("--alpha", type=float, default=0.05)
    mes.add_argument("--min-gain", type=float, default=0.0)
    mes.add_argument("--null-draws", type=int, default=200, help="swap draws per pair for the null rate (0: skip)")
    args = parser.parse_args()
    if args.step == "record":
        record(args.data, args.out, args.seeds, args.epochs)
    else:
        measure(args.predictions, args.alpha, args.min_gain, args.null_draws)


if __name__ == "__main__":
    main()
