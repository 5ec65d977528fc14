"""Registration against an in-memory registry: which aliases move, what the version tags record, and that every
failure to load or score a model fails closed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from fmnist.registry import registration
from fmnist.registry.registration import register_and_promote

N = 1_000
LABELS = np.arange(N) % 10


class Registry:
    """The registry calls registration makes, kept in dicts."""

    uri = "memory://"

    def __init__(self) -> None:
        self.versions: dict[str, dict[str, Any]] = {}  # version → the registered model URI and tags
        self.alias: dict[str, str] = {}
        self.models: dict[str, Any] = {}  # logged URI → its probabilities, or what scoring it raises

    def register(self, model_uri: str, name: str, tags: dict[str, Any]) -> str:
        version = str(len(self.versions) + 1)
        self.versions[version] = {"source": model_uri, "tags": dict(tags)}
        return version

    def alias_version(self, name: str, alias: str) -> str | None:
        return self.alias.get(alias)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.alias[alias] = version

    def set_version_tags(self, name: str, version: str, tags: dict[str, Any]) -> None:
        self.versions[version]["tags"].update(tags)

    def tags(self, version: str) -> dict[str, Any]:
        return self.versions[version]["tags"]


def one_hot(n_correct: int) -> np.ndarray:
    """Probabilities that get the first ``n_correct`` images right and the rest wrong."""
    predicted = np.where(np.arange(N) < n_correct, LABELS, (LABELS + 1) % 10)
    return np.eye(10, dtype=np.float32)[predicted]


@pytest.fixture()
def split_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The gate images the registry scores on (which images they are is tested below, on a real split)."""
    images = np.zeros((N, 784), dtype=np.uint8)

    def gate(split_dir: Path) -> tuple[np.ndarray, np.ndarray, str]:
        assert split_dir == tmp_path
        return images, LABELS.astype(np.uint8), f"official_test ({N} images)"

    monkeypatch.setattr(registration, "gate_images", gate)
    return tmp_path


@pytest.fixture()
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A registry whose versions are scored by ``models[the URI they were registered from]``."""
    reg = Registry()

    class Classifier:
        @staticmethod
        def from_uri(tracker: Registry, model_uri: str) -> SimpleNamespace:
            out = reg.models[reg.versions[model_uri.rsplit("/", 1)[1]]["source"]]
            if isinstance(out, Exception):
                raise out
            return SimpleNamespace(predict_proba=lambda pixels: out)

    monkeypatch.setattr(registration, "Classifier", Classifier)
    return reg


def registrar(registry: Registry, split_dir: Path) -> Callable[[str, Any], registration.Registration]:
    def register(uri: str, scores: Any) -> registration.Registration:
        registry.models[uri] = scores
        return register_and_promote(registry, "m", "torch", uri, "run", split_dir)  # type: ignore[arg-type]

    return register


def test_aliases_move_by_the_rule_and_tags_record_the_evidence(registry: Registry, split_dir: Path) -> None:
    register = registrar(registry, split_dir)
    first = register("a", one_hot(800))
    assert first.promoted and first.aliases == ["challenger", "champion"]
    assert registry.tags("1")["promotion.previous_champion"] == "none"
    assert registry.tags("1")["promotion.reason"] == "first model: no champion to compare with"
    assert registry.tags("1")["promotion.p_value"] == "none"

    same = register("b", one_hot(800))  # identical predictions: no evidence, champion stays
    assert not same.promoted and same.aliases == ["challenger"] and registry.alias["champion"] == "1"

    better = register("c", one_hot(812))  # 12 more images right, none fewer: p = 2^-12
    assert better.promoted and registry.alias["champion"] == "3"
    tags = registry.tags("3")
    assert tags["promotion.previous_champion"] == "1"
    assert (tags["promotion.b_champion_only"], tags["promotion.c_challenger_only"]) == ("0", "12")
    assert float(tags["promotion.p_value"]) == pytest.approx(2**-12, rel=1e-5)  # 6 significant digits
    assert tags["promotion.delta"] == "+0.012000"
    low, high = (float(x) for x in tags["promotion.delta_ci95"].strip("[]").split(","))
    assert low <= 0.012 <= high
    assert (tags["promotion.challenger_acc"], tags["promotion.champion_acc"]) == ("0.812000", "0.800000")
    assert "McNemar" in tags["promotion.rule"] and tags["promotion.reason"].startswith("better")
    assert tags["framework"] == "torch" and tags["run_id"] == "run"


@pytest.mark.parametrize(
    "scores",
    [OSError("weights file missing"), np.ones((N, 3), dtype=np.float32) / 3, np.ones((N, 10), dtype=np.float32)],
    ids=["load error", "wrong shape", "not probabilities"],
)
def test_a_model_that_cannot_be_scored_holds_no_alias_even_as_first(
    registry: Registry, split_dir: Path, scores: Any
) -> None:
    register = registrar(registry, split_dir)
    broken = register("broken", scores)
    assert not broken.promoted and broken.aliases == [] and broken.official_test_acc is None
    assert registry.alias == {}
    assert registry.tags("1")["promotion.promoted"] == "False"
    reason = registry.tags("1")["promotion.reason"]
    assert reason.startswith("not promoted: challenger v1 could not be loaded or scored")

    good = register("good", one_hot(800))  # the next loadable model is the first champion
    assert good.promoted and registry.alias == {"challenger": "2", "champion": "2"}
    assert registry.tags("2")["promotion.previous_champion"] == "none"


def test_a_champion_that_cannot_be_rescored_is_not_replaced(registry: Registry, split_dir: Path) -> None:
    register = registrar(registry, split_dir)
    register("old", one_hot(700))
    registry.models["old"] = RuntimeError("artifact store unreachable")
    much_better = register("new", one_hot(900))
    assert not much_better.promoted
    assert registry.alias == {"champion": "1", "challenger": "2"}
    reason = registry.tags("2")["promotion.reason"]
    assert reason == (
        "not promoted: champion v1 could not be loaded or scored: RuntimeError: artifact store unreachable"
    )
    assert registry.tags("2")["promotion.challenger_acc"] == "0.900000"


def test_the_gate_is_the_official_test_set_plus_the_recent_slices_of_labelled_batches(tmp_path: Path) -> None:
    from fmnist.data.batch_store import accept_batch
    from fmnist.data.labelled_batch import LabelledBatch
    from fmnist.data.manifest import read_verified_split
    from fmnist.data.prepare import prepare_splits
    from fmnist.data.split import SplitSizes
    from tests.factories import make_arrays, write_splits

    plain = write_splits(tmp_path / "plain")
    official = read_verified_split(plain, "official_test")
    pixels, labels, gate = registration.gate_images(plain)
    np.testing.assert_array_equal(pixels, official[0])
    assert gate == f"official_test ({len(labels)} images)"

    images, batch_labels = make_arrays(50, seed=9)
    batch = LabelledBatch(images.reshape(50, 784), batch_labels, [str(i) for i in range(50)], "idx")
    accept_batch(tmp_path / "batches", batch, "src", np.zeros(0, np.uint64), added_at="now")
    from fmnist.data.ingest import ingest
    from tests.factories import write_release

    md5 = write_release(tmp_path / "release", 60, 20)
    with_batch = tmp_path / "with-batch"
    prepare_splits(ingest(tmp_path / "release", checksums=md5), with_batch, 0, SplitSizes(10, 10), tmp_path / "batches")
    pixels, labels, gate = registration.gate_images(with_batch)
    recent = read_verified_split(with_batch, "recent")
    assert len(labels) == 20 + 10 and gate == "official_test+recent (20 + 10 images)"
    np.testing.assert_array_equal(pixels[20:], recent[0])
