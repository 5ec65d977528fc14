"""Read what the registry says the champion was trained on, and record each retrain decision in MLflow."""

from __future__ import annotations

from fmnist.data.manifest import Manifest
from fmnist.registry.registration import champion_tags
from fmnist.retrain.decision import RetrainCheck, retrain_check
from fmnist.retrain.new_batch import BATCH_KIND
from fmnist.tracking import Tracker, layout

RETRAIN_CHECK_KIND = "retrain-check"


def champion_retrain_check(tracker: Tracker, manifest: Manifest) -> RetrainCheck:
    """:func:`retrain_check` for the data of ``manifest`` against the registered ``fmnist@champion``."""
    champion, tags = champion_tags(tracker)
    drift = {}
    for batch in manifest.batches:
        run_id = tracker.find_run("batch.id", batch)
        run_tags = tracker.run(run_id)["tags"] if run_id else {}
        if run_tags.get(layout.RUN_KIND_TAG) == BATCH_KIND:
            drift[batch] = run_tags.get("drift.status", "unknown")
    return retrain_check(manifest.data_version, manifest.batches, champion, tags, drift)


def record_retrain_check(tracker: Tracker, check: RetrainCheck, trigger: str) -> str:
    """Log one retrain decision as a finished MLflow run; return its id."""
    run_id = tracker.start_parent(
        "retrain skipped" if not check.needed else "retrain",
        {
            layout.RUN_KIND_TAG: RETRAIN_CHECK_KIND,
            "retrain.needed": str(check.needed).lower(),
            "retrain.skipped": str(not check.needed).lower(),
            "retrain.reason": check.reason,
            "retrain.trigger": trigger,
            "data.version": check.data_version,
            "retrain.champion_version": check.champion_version or "none",
            "retrain.new_batches": ",".join(check.new_batches) or "none",
        },
    )
    tracker.end_run(run_id)
    return run_id
