"""Prefect's documented "zombie flow run" automation: a flow run whose heartbeats stop without a final state
(its worker died) is marked Crashed. Prefect 3.9's server has no such detection built in."""

from __future__ import annotations

# A flow run sends a heartbeat this often (the stack's workers get it as PREFECT_FLOWS_HEARTBEAT_FREQUENCY); one
# silent for ZOMBIE_AFTER_SECONDS after its last heartbeat is marked Crashed.
HEARTBEAT_SECONDS = 30
ZOMBIE_AFTER_SECONDS = 75
ZOMBIE_AUTOMATION_NAME = "fmnist: crash zombie flow runs"


def zombie_automation() -> dict[str, object]:
    """The automation, as the body of Prefect's ``POST /automations/``: no heartbeat and no final state in time
    → Crashed."""
    return {
        "name": ZOMBIE_AUTOMATION_NAME,
        "description": "A flow run whose heartbeats stop without a final state (its worker died) is marked Crashed.",
        "enabled": True,
        "trigger": {
            "type": "event",
            "posture": "Proactive",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "after": ["prefect.flow-run.heartbeat"],
            "expect": [
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            ],
            "for_each": ["prefect.resource.id"],
            "threshold": 1,
            "within": ZOMBIE_AFTER_SECONDS,
        },
        "actions": [
            {
                "type": "change-flow-run-state",
                "state": "CRASHED",
                "message": "Flow run crashed: its heartbeats stopped.",
            }
        ],
    }
