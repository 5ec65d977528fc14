"""Whether a retrain has a reason: new data since the champion was trained (a pure function, tested alone)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fmnist.data.batch_store import parse_batches_label


@dataclass(frozen=True)
class RetrainCheck:
    """The decision, why, and what it compared."""

    needed: bool
    reason: str
    data_version: str
    champion_version: str | None
    new_batches: tuple[str, ...] = ()


def retrain_check(
    data_version: str,
    batches: Sequence[str],
    champion_version: str | None,
    champion_tags: Mapping[str, str],
    drift_status: Mapping[str, str],
) -> RetrainCheck:
    """Retrain when there is no champion, it records no data version, or that differs from ``data_version``. A
    batch's drift status is fixed when it is accepted: an unchanged data version means no new drift either.
    ``batches``: the accepted batch ids now; ``drift_status``: batch id → its drift status."""
    short = data_version[:12]
    if champion_version is None:
        return RetrainCheck(True, "no champion yet", data_version, None)
    trained_on = champion_tags.get("data.version")
    if not trained_on:
        return RetrainCheck(
            True, f"champion v{champion_version} records no data version", data_version, champion_version
        )
    if trained_on == data_version:
        reason = (
            f"nothing new: data version {short} ({len(batches)} batches) is the one champion v{champion_version}"
            " was trained on, and no batch (so no drift check) came since"
        )
        return RetrainCheck(False, reason, data_version, champion_version)
    known = set(parse_batches_label(champion_tags.get("data.batches")))
    new = tuple(b for b in batches if b not in known)
    drifted = [b for b in new if drift_status.get(b) == "drift"]
    what = f"{len(new)} new batch(es) since champion v{champion_version}" if new else "the base data changed"
    drift = f"drift in {', '.join(drifted)}" if drifted else "no drift detected"
    return RetrainCheck(True, f"new data: {what} ({drift})", data_version, champion_version, new)
