"""Register trained models and move the ``champion`` alias by the promotion rule.

For each registered name the new version gets ``challenger``. ``champion`` moves only when
:func:`fmnist.registry.promotion.decide` says so, with the current champion re-scored on the same official test set
(so a change of data or code cannot make an old score look better or worse than it is). A version that
cannot be loaded and used through ``mlflow.pyfunc`` is never promoted. Every decision is written as tags on
the new version, so the alias's history can be read back from the registry.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.data.manifest import read_verified_split
from fmnist.errors import FmnistError
from fmnist.registry.promotion import DEFAULT_MARGIN, decide
from fmnist.tracking import Tracker, load_pyfunc

CHAMPION = "champion"
CHALLENGER = "challenger"
CROSS_FRAMEWORK_NAME = "fmnist"
SMOKE_BATCH = 64


@dataclass(frozen=True)
class Registration:
    """One registered version and what the rule decided for it."""

    name: str
    version: str
    framework: str
    model_uri: str
    official_test_acc: float
    promoted: bool
    reason: str
    aliases: list[str]


def registered_name(framework: str) -> str:
    """``fmnist-keras`` / ``fmnist-torch``."""
    return f"{CROSS_FRAMEWORK_NAME}-{framework}"


def official_accuracy(tracker: Tracker, model_uri: str, split_dir: Path) -> float:
    """Accuracy of a logged or registered model on the official test set, through ``mlflow.pyfunc``."""
    pixels, labels = read_verified_split(split_dir, "official_test")
    probabilities = np.asarray(load_pyfunc(model_uri, tracker.uri).predict(pixels))
    return float((probabilities.argmax(axis=1) == labels).mean())


def register_and_promote(
    tracker: Tracker,
    candidate: str,
    framework: str,
    model_uri: str,
    run_id: str,
    split_dir: Path,
    *,
    margin: float = DEFAULT_MARGIN,
) -> Registration:
    """Register ``model_uri`` as a new version of ``candidate`` and apply the promotion rule to it."""
    challenger_acc = official_accuracy(tracker, model_uri, split_dir)  # also proves it loads and predicts
    with registry_lock(tracker):
        facts = {"framework": framework, "run_id": run_id, "official_test_acc": f"{challenger_acc:.6f}"}
        version = tracker.register(model_uri, candidate, facts)
        tracker.set_alias(candidate, CHALLENGER, version)
        previous = tracker.alias_version(candidate, CHAMPION)
        champion_acc = None
        if previous is not None:
            try:
                champion_acc = official_accuracy(tracker, f"models:/{candidate}/{previous}", split_dir)
            except Exception as exc:  # an unloadable champion is replaced by any loadable challenger
                champion_acc = None
                tracker.set_version_tags(candidate, previous, {"promotion.rescore_error": str(exc)[:500]})
        decision = decide(challenger_acc, champion_acc, margin)
        tags = {
            "promotion.promoted": decision.promote,
            "promotion.previous_champion": previous or "none",
            "promotion.challenger_acc": f"{challenger_acc:.6f}",
            "promotion.champion_acc": "none" if champion_acc is None else f"{champion_acc:.6f}",
            "promotion.delta": "none" if decision.delta is None else f"{decision.delta:+.6f}",
            "promotion.rule": decision.rule,
            "promotion.reason": decision.reason,
        }
        tracker.set_version_tags(candidate, version, tags)
        if decision.promote:
            tracker.set_alias(candidate, CHAMPION, version)
            try:
                smoke_test(tracker, f"models:/{candidate}@{CHAMPION}", split_dir)
            except Exception as exc:
                # Never leave a champion that does not load: put the previous one back.
                if previous is not None:
                    tracker.set_alias(candidate, CHAMPION, previous)
                failed = {"promotion.promoted": False, "promotion.smoke_error": exc}
                tracker.set_version_tags(candidate, version, failed)
                raise FmnistError(f"{candidate} v{version} failed its smoke test and was not promoted: {exc}") from exc
        aliases = [a for a, v in tracker.aliases(candidate).items() if v == version]
        return Registration(
            candidate, version, framework, model_uri, challenger_acc, decision.promote, decision.reason, sorted(aliases)
        )


@contextlib.contextmanager
def registry_lock(tracker: Tracker) -> Iterator[None]:
    """Serialise read-champion → decide → move-alias between processes sharing a local store.

    Two pipeline runs on one machine could otherwise both read the same champion, both win against it, and
    leave the alias on whichever wrote last. A local SQLite store gets an exclusive lock file beside it; a
    tracking server has no lock to take, so runs against a shared server should not register at the same
    instant (see docs/RELIABILITY.md).
    """
    if not tracker.uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(tracker.uri.removeprefix("sqlite:///")).with_suffix(".register.lock")
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def smoke_test(tracker: Tracker, model_uri: str, split_dir: Path) -> None:
    """Load ``model_uri`` as a pyfunc and check a batch gives one probability row per image."""
    pixels, _ = read_verified_split(split_dir, "official_test")
    out = np.asarray(load_pyfunc(model_uri, tracker.uri).predict(pixels[:SMOKE_BATCH]))
    if out.shape != (SMOKE_BATCH, 10) or not np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
        raise FmnistError(f"{model_uri}: predict gave shape {out.shape}, not {SMOKE_BATCH} rows of 10 probabilities")


def register_all(
    tracker: Tracker,
    models: Mapping[str, tuple[str, str]],
    accuracy: Mapping[str, float],
    split_dir: Path,
    *,
    margin: float = DEFAULT_MARGIN,
) -> list[Registration]:
    """Register each framework's model (framework → (model_uri, run_id)) under its own name, and the one
    with the better official-test accuracy as a new version of the cross-framework model ``fmnist``."""
    if not models:
        raise FmnistError("nothing to register: no trained model")
    out = [
        register_and_promote(tracker, registered_name(fw), fw, uri, run, split_dir, margin=margin)
        for fw, (uri, run) in models.items()
    ]
    best = max(models, key=lambda fw: accuracy[fw])
    uri, run = models[best]
    out.append(register_and_promote(tracker, CROSS_FRAMEWORK_NAME, best, uri, run, split_dir, margin=margin))
    return out
