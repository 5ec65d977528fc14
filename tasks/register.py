"""Prefect task: register the models and apply the promotion rule."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from fmnist.registry.registration import Registration, register_all
from fmnist.tracking import Tracker


@task(name="register", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def register_task(tracking_uri: str, experiment: str | None, models: dict[str, tuple[str, str]],
                  accuracy: dict[str, float], split_dir: Path, margin: float) -> list[Registration]:  # fmt: skip
    """Register each framework's model and the better one as ``fmnist``; move ``champion`` by the rule."""
    registrations = register_all(Tracker(tracking_uri, experiment), models, accuracy, split_dir, margin=margin)
    logger = get_run_logger()
    for r in registrations:
        logger.info("%s v%s (%s): %s", r.name, r.version, ", ".join(r.aliases) or "no alias", r.reason)
    return registrations
