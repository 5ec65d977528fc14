"""Register trained models and move the ``champion`` alias by the promotion rule (docs/design.md, 'Promotion').

Fails closed: a model that cannot be loaded or scored promotes nothing, and a version that cannot be scored holds
no alias. Callers hold the lock every registering process shares (``tasks.register``): reading the champion,
deciding and moving the alias must not interleave with another registration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.data.batch_store import batches_label, concat_rows
from fmnist.data.manifest import RECENT, read_manifest, read_verified_split
from fmnist.errors import FmnistError
from fmnist.registry.promotion import DEFAULT_ALPHA, DEFAULT_MIN_GAIN, Decision, decide, rule_text
from fmnist.serve.model import Classifier
from fmnist.tracking import Tracker

CHAMPION = "champion"
CHALLENGER = "challenger"
CROSS_FRAMEWORK_NAME = "fmnist"
# What chose the model offered for registration (its seed, and for ``fmnist`` its framework): validation data.
SELECTION_METRIC = "val_eval/acc"


@dataclass(frozen=True)
class Registration:
    """One registered version and what the rule decided for it (accuracy None: the version could not be scored)."""

    name: str
    version: str
    framework: str
    model_uri: str
    official_test_acc: float | None
    promoted: bool
    reason: str
    aliases: list[str]


def correct_per_image(tracker: Tracker, model_uri: str, pixels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``prediction == label`` per image; an FmnistError unless the model gives one row of 10 probabilities each."""
    probabilities = Classifier.from_uri(tracker, model_uri).predict_proba(pixels)
    if probabilities.shape != (len(labels), 10) or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4):
        raise FmnistError(
            f"{model_uri}: predict gave shape {probabilities.shape}, not {len(labels)} rows of 10 probabilities"
        )
    return probabilities.argmax(axis=1) == labels


def champion_tags(tracker: Tracker) -> tuple[str | None, dict[str, str]]:
    """The version ``fmnist@champion`` points at (None: no champion yet) and its tags."""
    champion = tracker.alias_version(CROSS_FRAMEWORK_NAME, CHAMPION)
    return champion, tracker.version_tags(CROSS_FRAMEWORK_NAME, champion) if champion else {}


def gate_images(split_dir: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """The images champion and challenger are compared on (the official test set, plus any batches' recent slices)
    and their description for the version's tags."""
    pixels, labels = read_verified_split(split_dir, "official_test")
    if RECENT not in read_manifest(split_dir, verify=False).splits:
        return pixels, labels, f"official_test ({len(labels)} images)"
    recent = read_verified_split(split_dir, RECENT)
    gate = f"official_test+recent ({len(labels)} + {len(recent[1])} images)"
    return (*concat_rows([(pixels, labels), recent]), gate)


def _failed(which: str, exc: Exception, rule: str) -> Decision:
    error = f"{type(exc).__name__}: {exc}"[:500]  # a tag holds the reason; the traceback is in the task's log
    return Decision(False, f"not promoted: {which} could not be loaded or scored: {error}", rule)


def _tags(decision: Decision, challenger: np.ndarray | None, champion: np.ndarray | None) -> dict[str, str]:
    test, delta = decision.test, decision.delta
    values = {
        "promoted": str(decision.promote),
        "challenger_acc": None if challenger is None else f"{challenger.mean():.6f}",
        "champion_acc": None if champion is None else f"{champion.mean():.6f}",
        "p_value": None if test is None else f"{test.p_value:.6g}",
        "b_champion_only": None if test is None else str(test.b),
        "c_challenger_only": None if test is None else str(test.c),
        "delta": None if delta is None else f"{delta.estimate:+.6f}",
        "delta_ci95": None if delta is None else f"[{delta.low:+.6f}, {delta.high:+.6f}]",
        "rule": decision.rule,
        "reason": decision.reason,
    }
    return {f"promotion.{key}": "none" if value is None else value for key, value in values.items()}


def register_and_promote(
    tracker: Tracker,
    candidate: str,
    framework: str,
    model_uri: str,
    run_id: str,
    split_dir: Path,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_gain: float = DEFAULT_MIN_GAIN,
    evidence: Mapping[str, str] | None = None,
) -> Registration:
    """Register ``model_uri`` as a new version of ``candidate`` and apply the promotion rule to it; the decision and
    ``evidence`` (e.g. the data version, the selection metric) become tags of the version."""
    rule = rule_text(alpha, min_gain)  # bad parameters fail here, before anything is registered
    pixels, labels, gate = gate_images(split_dir)
    tags = {"framework": framework, "run_id": run_id, "promotion.gate": gate, **(evidence or {})}
    version = tracker.register(model_uri, candidate, tags)
    champion = tracker.alias_version(candidate, CHAMPION)
    aliases = []
    challenger_correct = champion_correct = None
    try:
        challenger_correct = correct_per_image(tracker, f"models:/{candidate}/{version}", pixels, labels)
    except Exception as exc:  # fail closed: a version that cannot be scored gets no alias
        decision = _failed(f"challenger v{version}", exc, rule)
    else:
        tracker.set_alias(candidate, CHALLENGER, version)
        aliases.append(CHALLENGER)
        try:
            if champion is not None:
                champion_correct = correct_per_image(tracker, f"models:/{candidate}/{champion}", pixels, labels)
        except Exception as exc:  # fail closed: no comparison, no promotion
            decision = _failed(f"champion v{champion}", exc, rule)
        else:
            decision = decide(challenger_correct, champion_correct, alpha=alpha, min_gain=min_gain)
    tags = {"promotion.previous_champion": champion or "none", **_tags(decision, challenger_correct, champion_correct)}
    tracker.set_version_tags(candidate, version, tags)
    if decision.promote:
        tracker.set_alias(candidate, CHAMPION, version)
        aliases.append(CHAMPION)
    accuracy = None if challenger_correct is None else float(challenger_correct.mean())
    return Registration(candidate, version, framework, model_uri, accuracy, decision.promote, decision.reason, aliases)


def register_all(
    tracker: Tracker,
    models: Mapping[str, tuple[str, str]],
    val_accuracy: Mapping[str, float],
    split_dir: Path,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_gain: float = DEFAULT_MIN_GAIN,
) -> list[Registration]:
    """Register each framework's model (framework → (model_uri, run_id)) as ``fmnist-<framework>``, and the better on
    validation as ``fmnist`` too: the official test set is the gate, not the judge of which framework to offer."""
    if not models:
        raise FmnistError("nothing to register: no trained model")
    manifest = read_manifest(split_dir, verify=False)
    data = {
        "data.manifest_sha256": manifest.sha256,
        "data.version": manifest.data_version,
        "data.batches": batches_label(manifest.batches),
        "selection.metric": SELECTION_METRIC,
    }
    best = max(models, key=lambda fw: val_accuracy[fw])
    registrations = []
    for name, fw in [*((f"{CROSS_FRAMEWORK_NAME}-{fw}", fw) for fw in models), (CROSS_FRAMEWORK_NAME, best)]:
        model_uri, run_id = models[fw]
        evidence = {**data, "selection.value": f"{val_accuracy[fw]:.6f}"}
        registrations.append(
            register_and_promote(
                tracker, name, fw, model_uri, run_id, split_dir, alpha=alpha, min_gain=min_gain, evidence=evidence
            )
        )
    return registrations
