"""Prefect task: register the models and apply the promotion rule, one registration at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from prefect import get_client, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from fmnist.registry.registration import Registration, register_all
from fmnist.tracking import Tracker

REGISTRY_LOCK = "fmnist-registry"
# A registration scores two models per registered name; waiting longer means a holder that is stuck or gone.
LOCK_TIMEOUT_S = 900


@contextmanager
def registry_lock() -> Iterator[None]:
    """Hold the one slot of the Prefect global concurrency limit ``fmnist-registry`` (created on first use), shared
    by every process on the same Prefect API (why: docs/design.md, "Promotion"). A server takes an expired lease
    back, but the ephemeral API keeps leases in its process's memory: a process killed while holding the slot can
    leave it taken (the timeout message says how to free it)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(REGISTRY_LOCK)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # another process created it a moment ago
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=REGISTRY_LOCK, limit=1))
    held = False
    try:
        with concurrency(REGISTRY_LOCK, occupy=1, timeout_seconds=LOCK_TIMEOUT_S, strict=True):
            held = True
            yield
    except TimeoutError as exc:
        if held:
            raise
        raise TimeoutError(
            f"the registry lock (Prefect global concurrency limit {REGISTRY_LOCK!r}) stayed taken for"
            f" {LOCK_TIMEOUT_S} s; if no registration is running, free it: prefect gcl update {REGISTRY_LOCK}"
            " --active-slots 0"
        ) from exc


# No retries: a registration is not idempotent (a retry would add a second version of the same model). It fails
# closed instead: an error while scoring moves no alias and is recorded as the version's reason.
@task(name="register", cache_policy=NO_CACHE)
def register_task(tracking_uri: str, experiment: str | None, models: dict[str, tuple[str, str]],
                  val_accuracy: dict[str, float], split_dir: Path, alpha: float, min_gain: float,
                  ) -> list[Registration]:  # fmt: skip
    """Register each framework's model and the better one as ``fmnist``; move ``champion`` by the rule, under the
    registry lock, so concurrent registrations decide one after the other."""
    tracker = Tracker(tracking_uri, experiment)
    with registry_lock():
        registrations = register_all(tracker, models, val_accuracy, split_dir, alpha=alpha, min_gain=min_gain)
    logger = get_run_logger()
    for r in registrations:
        logger.info("%s v%s (%s): %s", r.name, r.version, ", ".join(r.aliases) or "no alias", r.reason)
    return registrations
