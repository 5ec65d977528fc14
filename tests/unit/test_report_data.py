"""The report's "Data and drift" section, read from a local MLflow store: the data version, and each labelled
batch's drift table taken from the batch's own run."""

from __future__ import annotations

from pathlib import Path

from fmnist.evaluate.drift import DriftReport
from fmnist.evaluate.markdown import markdown_to_html
from fmnist.evaluate.report import _data_section
from fmnist.tracking import Tracker, layout


def _batch_run(tracker: Tracker, batch: str, drifted: bool) -> None:
    metrics = {"drift/label/p_value": 0.5, "drift/label/tvd": 0.01}
    for name in ("mean_grey", "grey_std", "ink_share", "centre_row", "centre_col"):
        metrics |= {f"drift/feature/{name}/p_value": 0.2, f"drift/feature/{name}/ks": 0.3 if drifted else 0.01}
    report = DriftReport(metrics, drifted, ["mean grey shifted: KS 0.300 >= 0.1 (p 0)"] if drifted else [])
    run_id = tracker.start_parent(f"batch {batch}", {"batch.id": batch})
    tracker.log_text(run_id, report.markdown(batch), layout.DRIFT_MD)
    tracker.end_run(run_id)


def test_the_section_names_the_data_version_and_shows_each_batch_s_drift(tmp_path: Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "report-data")
    _batch_run(tracker, "0001-aaa", drifted=True)
    _batch_run(tracker, "0002-bbb", drifted=False)
    children = [{"params": {"data.version": "f" * 64, "data.batches": "0001-aaa,0002-bbb"}}]
    section = _data_section(tracker, children, tmp_path / "tmp")
    assert section.startswith(f"Data version `{'f' * 16}…`: the base release and 2 labelled batch(es).")
    assert "### Batch 0001-aaa: **drift**" in section and "### Batch 0002-bbb: no drift" in section
    assert "- mean grey shifted" in section and "- every check within its threshold" in section
    page = markdown_to_html(section)
    assert "<h3>Batch 0001-aaa: <strong>drift</strong></h3>" in page and "<li>mean grey shifted" in page
    assert "<table>" in page


def test_without_batches_or_a_data_version_the_section_says_so(tmp_path: Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "report-data")
    base_only = [{"params": {"data.version": "e" * 64, "data.batches": "none"}}]
    assert _data_section(tracker, base_only, tmp_path).endswith("the base release only, no labelled batch.")
    assert _data_section(tracker, [{"params": {}}], tmp_path) == "_no data version logged_"
