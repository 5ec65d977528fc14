"""`make clean && make run`: the data stages of the pipeline after the work folder is deleted, while Prefect's result
cache (in PREFECT_HOME) remembers the first run. The source is a URL (the real release served on loopback), so the
ingest result names files in the work folder's download cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.http_server import serve
from tests.prefect_api import final_task_states

pytestmark = pytest.mark.slow


def test_the_data_stages_run_again_after_the_work_folder_is_deleted(
    harness: None, real_data_dir: Path, tmp_path: Path
) -> None:
    from prefect import flow
    from prefect.settings import PREFECT_API_URL

    from flows.trials import prepare_data
    from fmnist.data.manifest import read_manifest

    @flow(name="prepare-data")
    def data_flow(url: str, root: str) -> str:
        return str(prepare_data(url, Path(root), seed=42))

    work = tmp_path / "work"
    states = []
    with serve(real_data_dir) as url:
        for clean in (False, True, False, False):
            if clean:
                shutil.rmtree(work)  # `make clean`: downloads and splits gone, the Prefect cache kept
            state = data_flow(url, str(work), return_state=True)
            assert state.is_completed(), state
            read_manifest(Path(state.result()), verify=True)
            run_id = str(state.state_details.flow_run_id)
            states.append(final_task_states(PREFECT_API_URL.value(), run_id, ("ingest", "split")))
    ingest, split = ([s[task] for s in states] for task in ("ingest", "split"))
    # After the clean, both run again; the download is cached from the run after it (its files then verified).
    assert ingest == ["Completed", "Completed", "Completed", "Cached"]
    assert split == ["Completed", "Completed", "Cached", "Cached"]
