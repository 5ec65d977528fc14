"""Shared fixtures (where the real data lives, tiny generated data sets), Hypothesis profiles, tier markers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from fmnist.data.ingest import RELEASE_FILES
from tests.factories import write_release

DATA_ENV = "FMNIST_DATA_DIR"
TESTS = Path(__file__).parent
TIER_MARKERS = ("integration", "e2e")  # folders under tests/ and markers (pyproject) alike

# Property tests never fail on a slow machine (no deadline, no health check on the time to generate examples).
# In CI (CI set) every run draws the same examples and no example database (.hypothesis/examples) is read or
# written: a failure found once is kept as an explicit @example instead.
# Both start from Hypothesis's "default" profile: with CI set it would otherwise hand its own "ci" profile down.
UNTIMED = settings(settings.get_profile("default"), deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", UNTIMED)
settings.register_profile("ci", UNTIMED, derandomize=True, database=None, max_examples=100, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration/ and tests/e2e/ with its tier, so ``-m`` selects what a folder holds."""
    for item in items:
        if item.path.is_relative_to(TESTS) and (tier := item.path.relative_to(TESTS).parts[0]) in TIER_MARKERS:
            item.add_marker(tier)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder with the four official .gz files, from $FMNIST_DATA_DIR (set by the Makefile and .ci/run)."""
    value = os.environ.get(DATA_ENV)
    path = Path(value) if value else None
    if path is None or not all((path / n).is_file() for n in RELEASE_FILES.values()):
        message = f"${DATA_ENV} does not point at the official Fashion-MNIST files (got {value!r})"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must never skip the tests on real data
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def real_splits(real_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real data split once per test session (seed 42), for tests that read Parquet splits."""
    from fmnist.data.ingest import ingest
    from fmnist.data.prepare import prepare_splits

    out = tmp_path_factory.mktemp("splits")
    prepare_splits(ingest(real_data_dir), out, seed=42)
    return out


@pytest.fixture()
def tiny_release(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder with a tiny four-file release (200 train, 50 test) and its md5s."""
    directory = tmp_path / "release"
    return directory, write_release(directory)
