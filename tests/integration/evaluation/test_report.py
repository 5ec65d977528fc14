"""The run report, built from a real MLflow store after a real evaluation."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from mlflow import MlflowClient

from fmnist.evaluate.report import build_report, log_report, write_report
from fmnist.evaluate.scoring import evaluate_runs
from fmnist.tracking import Tracker
from fmnist.train.tracked import TrainSummary

pytestmark = pytest.mark.slow


def test_report_is_self_contained_and_logged(
    trained: tuple[Tracker, str, dict[str, TrainSummary]], real_splits: Path, tmp_path: Path
) -> None:
    tracker, parent, summaries = trained
    result = evaluate_runs(
        tracker, parent, {fw: {s.seed: s.run_id} for fw, s in summaries.items()}, real_splits, n_boot=1000
    )
    tracker.finish_parent(parent, "FINISHED", {"flow_started_at": 0.0, "ingest": 0.5, "train": 12.0})

    report = build_report(tracker, parent)
    html_path, md_path = write_report(report, tmp_path / "report")
    page = html_path.read_text()
    # Self-contained: every image is inlined, nothing is fetched from elsewhere.
    assert page.count("data:image/png;base64,") == 5
    assert not re.search(r'src="(?!data:)', page) and "<link" not in page
    for text in (result.verdict, "reference study", "89.18", "87.09", "official test", "Timings per stage", "train",
                 "env.python", "data.manifest_sha256", summaries["keras"].run_id):  # fmt: skip
        assert html.escape(text) in page, text
    markdown = md_path.read_text()
    assert result.verdict in markdown and "![Learning curves" in markdown
    for name in ("figures/learning_curves.png", "figures/disagreements.png"):
        assert (tmp_path / "report" / name).read_bytes().startswith(b"\x89PNG")

    log_report(tracker, parent, tmp_path / "report")
    logged = {a.path for a in MlflowClient(tracker.uri).list_artifacts(parent, "report")}
    assert logged == {"report/report.html", "report/report.md"}
