"""The user's view: a real pipeline run in an MLflow server on loopback, seen through headless Chromium.

Opens the experiment's runs table and the comparison of the two framework runs, checks that the runs (`keras`,
`torch`) and the metrics `val/acc` and `official_test/acc` are on screen, and saves the README's screenshots to
`docs/images/`. Chromium is Debian's `/usr/bin/chromium` (installed by `.ci/run`); Playwright only drives it, so
`playwright install` is never needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from fmnist.ops.loopback import free_port
from tests.e2e.faults.processes import start_mlflow_server, stop_group

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# `make screenshots` sets FMNIST_SCREENSHOT_DIR=docs/images to refresh the README's pictures; a plain test run
# writes them to a temporary folder, so running the tests leaves the working tree as it was.
IMAGES = Path(os.environ.get("FMNIST_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "fmnist-screenshots")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync",
]  # fmt: skip
VIEWPORT = {"width": 1400, "height": 900}
FRAMEWORKS = ("keras", "torch")
RUN_NAMES = tuple(f"{fw}-seed-42" for fw in FRAMEWORKS)  # each training is named after its framework and seed
METRICS = ("val/acc", "official_test/acc")
MAX_PNG_BYTES = 1024 * 1024


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An MLflow server on 127.0.0.1 with its own SQLite store; its whole process group is stopped afterwards."""
    base = tmp_path_factory.mktemp("mlflow-ui")
    port = free_port()
    server = start_mlflow_server(base, port, base / "server.log")  # answers before it returns
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(server.pid, timeout=20)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=5)


@pytest.fixture(scope="module")
def pipeline_run(mlflow_url: str, real_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The project's own `fmnist run` (2 epochs) against the server; its JSON summary plus the experiment id."""
    work = tmp_path_factory.mktemp("ui-work")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_url, "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "fmnist", "--quiet", "run", "--data-source", str(real_data_dir), "--max-epochs", "2",
         "--work-dir", str(work), "--experiment", "ui-test", "--json"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    response = httpx.get(
        f"{mlflow_url}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "ui-test"}, timeout=30
    )
    response.raise_for_status()
    summary["experiment_id"] = response.json()["experiment"]["experiment_id"]
    return summary


@pytest.fixture()
def page(pipeline_run: dict, tmp_path: Path) -> Iterator[Page]:
    """A headless Chromium page with a fresh profile, whose saved UI preferences are a user's (see `_preferences`)."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    seed = json.dumps(_preferences(pipeline_run))
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile", executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT, timeout=60_000,
        )  # fmt: skip
        try:
            context.set_default_timeout(30_000)
            context.set_default_navigation_timeout(60_000)
            context.add_init_script(f"for (const [k, v] of Object.entries({seed})) localStorage.setItem(k, v);")
            yield context.new_page()
        finally:
            context.close()


def test_experiment_page_lists_both_runs_with_their_metrics(page: Page, mlflow_url: str, pipeline_run: dict) -> None:
    page.goto(f"{mlflow_url}/#/experiments/{pipeline_run['experiment_id']}/runs")
    for name in RUN_NAMES:
        page.get_by_role("link", name=name, exact=True).wait_for()
    for metric in METRICS:
        header = page.locator(f'.ag-header-cell[col-id="metrics.`{metric}`"]')
        assert header.inner_text().strip() == metric
    table = page.locator(".ag-center-cols-container").inner_text()
    for framework in FRAMEWORKS:
        metrics = pipeline_run["frameworks"][framework]["metrics"]
        for metric in METRICS:
            shown = str(metrics[metric]).removesuffix(".0")  # as JavaScript prints a float
            assert shown in table, (framework, metric, table)
    _save_screenshot(page, "mlflow-experiment.png")


def test_compare_page_shows_both_runs_side_by_side(page: Page, mlflow_url: str, pipeline_run: dict) -> None:
    run_ids = [pipeline_run["frameworks"][f]["run_id"] for f in FRAMEWORKS]
    runs, experiments = json.dumps(run_ids), json.dumps([pipeline_run["experiment_id"]])
    page.goto(f"{mlflow_url}/#/compare-runs?runs={runs}&experiments={experiments}")
    page.get_by_text("Comparing 2 Runs from 1 Experiment").wait_for()
    names = page.get_by_role("row").filter(has_text="Run Name:")
    names.wait_for()
    assert names.inner_text().split() == ["Run", "Name:", *RUN_NAMES]
    page.get_by_role("link", name="official_test/acc", exact=True).wait_for()  # the metrics table

    # The parallel-coordinates plot: one axis for the framework, one per metric, a line per run.
    page.get_by_role("button", name="Clear All").click()
    _choose(page, "Please select parameters", "framework")
    for metric in METRICS:
        _choose(page, "Please select metrics" if metric == METRICS[0] else METRICS[0], metric)
    plot = page.locator(".js-plotly-plot")
    for label in ("framework", *METRICS):
        plot.locator("text", has_text=label).first.wait_for()
    page.get_by_text("Comparing 2 Runs from 1 Experiment").click()  # drop the focus ring from the select
    _save_screenshot(page, "mlflow-compare.png")


def _preferences(run: dict) -> dict[str, str]:
    """localStorage as a user leaves it: the "Model training" view, the assistant closed, the parent run expanded,
    and the accuracy columns shown (MLflow 3.17's keys; the UI reads them when the page loads)."""
    columns = [f"metrics.`{m}`" for m in ("val/acc", "official_test/acc", "test/acc", "train/acc")]
    table = {
        "selectedColumns": [*columns, "tags.`framework`"],
        "columnOrder": ["duration", *columns],
        "columnWidths": {"metrics.`official_test/acc`": 140, "metrics.`test/acc`": 120, "metrics.`train/acc`": 120},
        "runsExpanded": {run["parent_run_id"]: True},
    }
    return {
        "mlflow.workflowType_v1": json.dumps("machine_learning"),
        "mlflow.assistant.panelOpen_v1": "false",
        "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
        f"MLflowLocalStorage-1.1-ExperimentPage-{json.dumps([run['experiment_id']])}-ReactComponentState": json.dumps(
            table
        ),
    }


def _choose(page: Page, select_text: str, option: str) -> None:
    """Pick `option` in the multi-select that currently shows `select_text`, by typing as a user would."""
    page.locator(".du-bois-light-select-selector", has_text=select_text).click()
    page.keyboard.type(option)
    page.locator(f'.du-bois-light-select-item-option[title="{option}"]').click()
    page.keyboard.press("Escape")


def _save_screenshot(page: Page, name: str) -> None:
    """Write a PNG into IMAGES atomically (temp file, then rename); the README shows the docs/images ones."""
    png = page.screenshot(type="png", animations="disabled")
    assert png.startswith(b"\x89PNG") and len(png) < MAX_PNG_BYTES, len(png)
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=IMAGES, prefix=f".{name}.", suffix=".tmp", delete=False) as out:
        out.write(png)
    os.chmod(out.name, 0o644)
    os.replace(out.name, IMAGES / name)
