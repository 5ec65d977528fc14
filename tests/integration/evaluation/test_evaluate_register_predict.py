"""Evaluate two short trainings from a real MLflow store, register them, move aliases, predict with them."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from fmnist.data.manifest import read_manifest
from fmnist.data.parquet import read_split
from fmnist.evaluate.scoring import evaluate_runs
from fmnist.registry.promotion import decide
from fmnist.registry.registration import (
    CHALLENGER,
    CHAMPION,
    Registration,
    correct_per_image,
    register_all,
    register_and_promote,
)
from fmnist.serve.model import Classifier
from fmnist.tracking import Tracker
from fmnist.train.tracked import TrainSummary
from tests.fresh_python import fresh_python

pytestmark = pytest.mark.slow


def test_evaluation_logs_metrics_comparison_and_figures(
    trained: tuple[Tracker, str, dict[str, TrainSummary]], real_splits: Path
) -> None:
    tracker, parent, summaries = trained
    result = evaluate_runs(
        tracker, parent, {fw: {s.seed: s.run_id} for fw, s in summaries.items()}, real_splits, n_boot=2000
    )
    store = MlflowClient(tracker.uri)
    for fw, summary in summaries.items():
        metrics = store.get_run(summary.run_id).data.metrics
        for key in (
            "test/acc",
            "official_test/acc",
            "train_eval/acc",
            "val_eval/acc",
            "official_test/loss",
            "official_test/f1/Ankle_boot",
            "official_test/macro_f1",
        ):
            assert key in metrics, (fw, key)
        assert metrics["official_test/acc"] == pytest.approx(result.accuracy[fw]["official_test/acc"])
        assert 0.7 < metrics["official_test/acc"] < 1.0
        # The same numbers are the logged model's, each tied to the dataset (split and digest) it was measured on.
        model = store.get_logged_model(tracker.logged_model_id(summary.run_id))
        linked = {m.key: (m.value, m.dataset_name, m.dataset_digest) for m in model.metrics}
        digests = read_manifest(real_splits).dataset_digests
        assert linked["official_test/acc"] == (
            pytest.approx(metrics["official_test/acc"]),
            "fmnist-official_test",
            digests["official_test"],
        )
        assert linked["val_eval/acc"][1:] == ("fmnist-val", digests["val"])
    parent_run = store.get_run(parent)
    assert any("mcnemar" in key for key in parent_run.data.metrics)
    assert 0.0 <= parent_run.data.metrics["compare/mcnemar_p_value"] <= 1.0
    assert parent_run.data.tags["verdict"] == result.verdict
    assert result.verdict.startswith("this PyTorch model vs this Keras model: ")
    artifacts = {a.path for a in store.list_artifacts(parent, "figures")}
    assert {
        "figures/learning_curves.png",
        "figures/per_class_f1.png",
        "figures/disagreements.png",
        "figures/confusion_keras.png",
        "figures/confusion_torch.png",
    } <= artifacts
    markdown = store.download_artifacts(parent, "comparison/comparison.md")
    text = Path(markdown).read_text()
    assert "reference study" in text and "89.18" in text and "87.09" in text


def test_aliases_move_only_by_the_rule_and_tags_record_it(
    trained: tuple[Tracker, str, dict[str, TrainSummary]], real_splits: Path
) -> None:
    tracker, _, summaries = trained
    name = "fmnist-rule-test"
    pixels, labels = read_split(real_splits / "official_test.parquet")
    correct = {fw: correct_per_image(tracker, s.model_uri, pixels, labels) for fw, s in summaries.items()}
    worse, better = sorted(correct, key=lambda fw: correct[fw].mean())
    expected = decide(correct[better], correct[worse])
    assert expected.test is not None and expected.delta is not None

    def register(fw: str, **rule: float) -> Registration:
        s = summaries[fw]
        return register_and_promote(tracker, name, fw, s.model_uri, s.run_id, real_splits, **rule)

    first = register(worse)
    assert first.promoted and tracker.alias_version(name, CHAMPION) == first.version
    tags = tracker.version_tags(name, first.version)
    assert tags["promotion.previous_champion"] == "none" and tags["promotion.reason"].startswith("first model")

    second = register(better)  # the registered versions, loaded back, decide as the logged models do
    assert second.promoted is expected.promote
    assert tracker.alias_version(name, CHAMPION) == (second.version if expected.promote else first.version)
    tags = tracker.version_tags(name, second.version)
    assert tags["promotion.previous_champion"] == first.version
    assert tags["promotion.p_value"] == f"{expected.test.p_value:.6g}"
    assert (tags["promotion.b_champion_only"], tags["promotion.c_challenger_only"]) == (
        str(expected.test.b),
        str(expected.test.c),
    )
    assert float(tags["promotion.delta"]) == pytest.approx(expected.delta.estimate, abs=1e-6)
    assert "McNemar p < 0.05" in tags["promotion.rule"] and tags["promotion.reason"] == expected.reason

    champion = tracker.alias_version(name, CHAMPION)
    third = register(worse)  # no better than the champion: champion stays, the new version is challenger
    assert not third.promoted
    assert tracker.alias_version(name, CHAMPION) == champion
    assert tracker.alias_version(name, CHALLENGER) == third.version
    assert tracker.version_tags(name, third.version)["promotion.promoted"] == "False"

    fourth = register(better, min_gain=1.0)  # an impossible gain: nothing is promoted
    assert not fourth.promoted and tracker.alias_version(name, CHAMPION) == champion


def test_registered_versions_carry_the_data_version_and_the_selection_metric(
    trained: tuple[Tracker, str, dict[str, TrainSummary]], real_splits: Path
) -> None:
    tracker, _, summaries = trained
    pixels, labels = read_split(real_splits / "val.parquet")
    val = {fw: float(correct_per_image(tracker, s.model_uri, pixels, labels).mean()) for fw, s in summaries.items()}
    models = {fw: (s.model_uri, s.run_id) for fw, s in summaries.items()}
    registrations = register_all(tracker, models, val, real_splits)
    chosen = max(val, key=val.__getitem__)
    for r in registrations:
        tags = tracker.version_tags(r.name, r.version)
        assert tags["data.manifest_sha256"] == read_manifest(real_splits).sha256
        assert tags["selection.metric"] == "val_eval/acc"
        assert float(tags["selection.value"]) == pytest.approx(val[r.framework], abs=1e-6)
        assert tags["promotion.promoted"] == str(r.promoted)
    assert registrations[-1].name == "fmnist" and registrations[-1].framework == chosen


def test_predict_cli_gives_the_classes_the_evaluation_gave(
    trained: tuple[Tracker, str, dict[str, TrainSummary]], real_splits: Path, tmp_path: Path
) -> None:
    tracker, _, summaries = trained
    summary = summaries["torch"]
    version = tracker.register(summary.model_uri, "fmnist-predict-test")
    tracker.set_alias("fmnist-predict-test", CHAMPION, version)
    pixels, _ = read_split(real_splits / "official_test.parquet")
    # Three PNGs (what a user has) and the Parquet split (what the pipeline has).
    from PIL import Image

    for i in range(3):
        Image.fromarray(pixels[i].reshape(28, 28), mode="L").save(tmp_path / f"img{i}.png")
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracker.uri}
    done = subprocess.run(
        [sys.executable, "-m", "fmnist", "--quiet", "predict", "--model", "models:/fmnist-predict-test@champion",
         str(tmp_path / "img0.png"), str(tmp_path / "img1.png"), str(tmp_path / "img2.png"),
         str(real_splits / "official_test.parquet"), "--out", str(tmp_path / "p.csv")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "p.csv").read_text())))
    assert len(rows) == 3 + 10_000
    from fmnist.serve.model import Classifier

    expected = Classifier.from_run(tracker, summary.run_id, "torch").predict_proba(pixels).argmax(axis=1)
    got = np.array([int(r["class_id"]) for r in rows[3:]])
    assert (got == expected).all()
    assert [int(r["class_id"]) for r in rows[:3]] == expected[:3].tolist()
    assert rows[0]["source"].endswith("img0.png") and rows[3]["source"].endswith("official_test.parquet#0")
    assert abs(sum(float(rows[0][f"p_{i}"]) for i in range(10)) - 1) < 1e-4


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_the_numpy_pass_scores_a_trained_model_without_importing_its_framework(
    framework: str, trained: tuple[Tracker, str, dict[str, TrainSummary]], real_splits: Path, tmp_path: Path
) -> None:
    """What the drift check of a new batch does with the champion, in a process of its own."""
    tracker, _, summaries = trained
    uri, out = summaries[framework].model_uri, tmp_path / "p.npy"
    script = f"""
import sys
from pathlib import Path
import numpy as np
from fmnist.data.manifest import read_verified_split
from fmnist.serve.model import Classifier
from fmnist.tracking import Tracker
pixels, _ = read_verified_split(Path({str(real_splits)!r}), "val")
np.save({str(out)!r}, Classifier.from_uri(Tracker({tracker.uri!r}), {uri!r}, numpy=True).predict_proba(pixels))
print([name for name in ("tensorflow", "keras", "torch") if name in sys.modules])
"""
    assert fresh_python(script) == "[]"
    pixels, _ = read_split(real_splits / "val.parquet")
    expected = Classifier.from_uri(tracker, uri).predict_proba(pixels)
    np.testing.assert_allclose(np.load(out), expected, atol=2e-5)
