"""The run report: one self-contained HTML page (images inlined) and its Markdown twin, built from MLflow alone (the
parent run and its children), so it can be rebuilt for any past run on any machine that reaches the server."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fmnist.atomic import staged_files
from fmnist.data.batch_store import parse_batches_label
from fmnist.evaluate.compare import display_name
from fmnist.evaluate.markdown import html_page, markdown_table
from fmnist.redaction import redact
from fmnist.tracking import Tracker, layout

FIGURES = (
    (layout.LEARNING_CURVES_FIGURE, "Learning curves (both frameworks overlaid)"),
    (layout.confusion_figure("keras"), "Confusion matrix, Keras (official test set)"),
    (layout.confusion_figure("torch"), "Confusion matrix, PyTorch (official test set)"),
    (layout.PER_CLASS_F1_FIGURE, "Per-class F1 (official test set)"),
    (layout.DISAGREEMENTS_FIGURE, "Official-test images where the two frameworks disagree"),
    (layout.ABLATION_FOREST_FIGURE, "Ablation: effect on official-test accuracy, 95% intervals"),
)
ACCURACY_KEYS = ("train_eval/acc", "val_eval/acc", "test/acc", "official_test/acc")
ENV_KEYS = ("env.python", "env.platform", "env.cpu_count", "env.numpy", "env.mlflow", "framework_version", "threads",
            "threads_effective", "seed", "preset", "data.split_seed", "data.manifest_sha256")  # fmt: skip


@dataclass(frozen=True)
class Report:
    """A rendered report: Markdown (images as files beside it), HTML (images inlined), and the images."""

    markdown: str
    html: str
    images: dict[str, bytes]


def build_report(tracker: Tracker, parent_run_id: str) -> Report:
    """Assemble the report of one pipeline (or ablation) execution from its MLflow runs."""
    parent = tracker.run(parent_run_id)
    children = sorted(tracker.children(parent_run_id), key=lambda c: (c["framework"], c["name"]))
    with tempfile.TemporaryDirectory() as tmp:
        comparison = _read_text(tracker, parent_run_id, layout.COMPARISON_MD, Path(tmp))
        ablation = _read_text(tracker, parent_run_id, layout.ABLATION_MD, Path(tmp))
        data = _data_section(tracker, children, Path(tmp))
        images = {
            name: path.read_bytes()
            for name, _ in FIGURES
            if (path := _download(tracker, parent_run_id, name, Path(tmp))) is not None
        }
    title = f"fmnist-pipeline run {parent['name'] or parent_run_id}"
    timings = {k.removeprefix("timing/"): v for k, v in parent["metrics"].items() if k.startswith("timing/")}
    if ablation is None:
        sections = [
            ("Verdict", f"**{parent['tags'].get('verdict', 'not evaluated')}**"),
            ("Results: the reference study beside this run", comparison or "_no comparison logged_"),
        ]
    else:
        sections = [("Ablation: the effect of each framework default", ablation)]
    sections += [
        ("Data and drift", data),
        ("Runs", _runs_table(children)),
        ("Timings per stage (seconds)", _table(["stage", "seconds"], [[k, f"{v:.2f}"] for k, v in timings.items()])),
        ("Environment", _environment(parent["params"], children)),
    ]

    def document(image_source: Callable[[str], str]) -> str:
        parts = [f"# {title}", "", f"MLflow parent run `{parent_run_id}` · tracking `{redact(tracker.uri)}`", ""]
        for heading, body in sections:
            parts += [f"## {heading}", "", body, ""]
        parts += ["## Figures", ""]
        for name, caption in FIGURES:
            if name in images:
                parts += [f"### {caption}", "", f"![{caption}]({image_source(name)})", ""]
        return "\n".join(parts)

    inlined = document(lambda name: f"data:image/png;base64,{base64.b64encode(images[name]).decode()}")
    return Report(document(lambda name: name), html_page(title, inlined, _CSS), images)


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained), ``report.md`` and its images into ``out_dir``, all or nothing."""
    out_dir = Path(out_dir)
    with staged_files(out_dir) as staging:
        for name, data in report.images.items():  # names may hold a folder: figures/<name>.png
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        for name, text in zip(layout.REPORT_FILES, (report.html, report.markdown), strict=True):
            (staging / name).write_text(text, encoding="utf-8")
    html_path, md_path = (out_dir / name for name in layout.REPORT_FILES)
    return html_path, md_path


def log_report(tracker: Tracker, parent_run_id: str, out_dir: Path) -> None:
    """Attach the written report to the parent run (``report/``)."""
    for name in layout.REPORT_FILES:
        tracker.log_artifact(parent_run_id, Path(out_dir) / name, layout.REPORT_DIR)


def _download(tracker: Tracker, run_id: str, name: str, tmp: Path) -> Path | None:
    try:
        return tracker.download_artifact(run_id, name, tmp / Path(name).parent)
    except Exception:  # a figure that was not logged (e.g. a single-framework run) is left out
        return None


def _read_text(tracker: Tracker, run_id: str, name: str, tmp: Path) -> str | None:
    path = _download(tracker, run_id, name, tmp)
    return path.read_text() if path is not None else None


def _data_section(tracker: Tracker, children: list[dict], tmp: Path) -> str:
    """The data the trainings saw (its version, the labelled batches in it) and each batch's drift checks, from the
    batch's own run (``drift/drift.md``)."""
    params = next((c["params"] for c in children if "data.version" in c["params"]), None)
    if params is None:
        return "_no data version logged_"
    batches = parse_batches_label(params.get("data.batches"))
    lines = [f"Data version `{params['data.version'][:16]}…`: the base release"]
    if not batches:
        return lines[0] + " only, no labelled batch."
    lines[0] += f" and {len(batches)} labelled batch(es). Drift of each against the champion of its day:"
    for batch in batches:
        run_id = tracker.find_run("batch.id", batch)
        drift = _read_text(tracker, run_id, layout.DRIFT_MD, tmp / batch) if run_id else None
        lines += ["", drift.strip() if drift else f"### Batch {batch}\n\n_no drift checks logged_"]
    return "\n".join(lines)


def _runs_table(children: list[dict]) -> str:
    rows = []
    for c in children:
        m = c["metrics"]
        rows.append([
            c["name"], display_name(c["framework"]), str(c["seed"]) if c["seed"] is not None else "",
            *(f"{100 * m[k]:.2f}" if k in m else "—" for k in ACCURACY_KEYS),
            f"{int(m.get('best_epoch', 0))} / {int(m.get('stopped_epoch', 0))}", c["run_id"],
        ])  # fmt: skip
    return _table(
        ["training", "framework", "seed", "train", "val", "test-900", "official test", "best / last epoch", "run"], rows
    )


def _environment(parent_params: dict[str, str], children: list[dict]) -> str:
    rows = {(f"pipeline: {k}", v): None for k, v in sorted(parent_params.items())}
    for c in children:  # each framework's setting once per distinct value, however many trainings share it
        for key in ENV_KEYS:
            if key in c["params"]:
                rows[(f"{display_name(c['framework'])}: {key}", c["params"][key])] = None
    return _table(["setting", "value"], [list(row) for row in rows])


def _table(header: list[str], rows: list[list[str]]) -> str:
    return markdown_table(header, rows) if rows else "_none logged_"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}img{max-width:100%}code{font-size:90%}"
)
