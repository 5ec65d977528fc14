"""Bad flow parameters: the Prefect flow validates them before any task runs, tracking or writing included.

A deployment run with ``--param max_epochs=0`` reaches the flow exactly like these calls do: the parameters are
validated against the flow's signature, and a bad one fails the run with one message naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import snapshot, write_csv_pair

pytestmark = pytest.mark.slow  # the Prefect test harness takes ~10 s to start


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    return write_csv_pair(tmp_path / "csv", n_train=30, n_test=10)


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "mlflow" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    return db


def assert_rejected(
    harness: None, store: Path, tmp_path: Path, source: Path, name: str, flow: str = "pipeline", **bad: object
) -> None:
    """The flow run fails on parameter validation, naming ``name``; nothing is tracked or written."""
    message = _failure(store, tmp_path, source, flow, **bad)
    # Prefect's own wording, two lines: "Validation of flow parameters failed ... invalid parameters:" and
    # " - max_epochs: Input should be greater than or equal to 1".
    assert message.startswith("Validation of flow parameters failed"), message
    assert f" - {name}" in message and " should " in message and "Traceback" not in message, message


def _failure(store: Path, tmp_path: Path, source: Path, flow: str, **bad: object) -> str:
    """Run the flow with ``bad`` parameters; it must fail before any task runs. Return the failure's message."""
    from flows.ablation import fmnist_ablation
    from flows.pipeline import fmnist_pipeline

    work = tmp_path / "work"
    before = snapshot(tmp_path)
    params = {"data_source": str(source), "work_dir": str(work), "experiment": "bad-params", **bad}
    state = {"pipeline": fmnist_pipeline, "ablation": fmnist_ablation}[flow](**params, return_state=True)
    assert state.is_failed(), state
    assert snapshot(tmp_path) == before
    assert not work.exists() and not store.exists()  # no task ran: no ingest, no MLflow run
    return str(state.message)


def test_max_epochs_zero(harness: None, store: Path, tmp_path: Path, source: Path) -> None:
    assert_rejected(harness, store, tmp_path, source, "max_epochs", max_epochs=0)


def test_max_epochs_negative(harness: None, store: Path, tmp_path: Path, source: Path) -> None:
    assert_rejected(harness, store, tmp_path, source, "max_epochs", max_epochs=-1)


def test_unknown_preset(harness: None, store: Path, tmp_path: Path, source: Path) -> None:
    assert_rejected(harness, store, tmp_path, source, "preset", preset="fastest")


def test_unknown_framework(harness: None, store: Path, tmp_path: Path, source: Path) -> None:
    assert_rejected(harness, store, tmp_path, source, "frameworks", frameworks=["keras", "jax"])


def test_no_framework(harness: None, store: Path, tmp_path: Path, source: Path) -> None:
    assert_rejected(harness, store, tmp_path, source, "frameworks", frameworks=[])


def test_negative_seed(harness: None, store: Path, tmp_path: Path, source: Path) -> None:
    assert_rejected(harness, store, tmp_path, source, "seed", seed=-3)


def test_promotion_alpha_above_one_half(harness: None, store: Path, tmp_path: Path, source: Path) -> None:
    assert_rejected(harness, store, tmp_path, source, "promotion_alpha", promotion_alpha=0.6)


def test_promotion_min_gain_above_one(harness: None, store: Path, tmp_path: Path, source: Path) -> None:
    assert_rejected(harness, store, tmp_path, source, "promotion_min_gain", promotion_min_gain=2.0)


def test_ablation_with_one_seed(harness: None, store: Path, tmp_path: Path, source: Path) -> None:
    assert_rejected(harness, store, tmp_path, source, "seeds", flow="ablation", seeds=1)


def test_ablation_margin_zero(harness: None, store: Path, tmp_path: Path, source: Path) -> None:
    assert_rejected(harness, store, tmp_path, source, "margin", flow="ablation", margin=0.0)


@pytest.mark.parametrize(("factors", "needle"), [(["bn_foo"], "unknown factor 'bn_foo'"), (["init", "init"], "twice")])
def test_ablation_bad_factors(
    harness: None, store: Path, tmp_path: Path, source: Path, factors: list[str], needle: str
) -> None:
    assert needle in _failure(store, tmp_path, source, "ablation", factors=factors)
