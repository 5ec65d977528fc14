"""Prefect's documented "zombie flow run" automation: a flow run whose heartbeats stop without a final state
(its worker died) is marked Crashed. Prefect 3.9's server has no such detection built in."""

from __future__ import annotations

import base64
import json
import urllib.request
from types import MappingProxyType

# A flow run sends a heartbeat this often (the stack's workers get it as PREFECT_FLOWS_HEARTBEAT_FREQUENCY); one
# silent for ZOMBIE_AFTER_SECONDS after its last heartbeat is marked Crashed.
HEARTBEAT_SECONDS = 30
ZOMBIE_AFTER_SECONDS = 75
ZOMBIE_AUTOMATION_NAME = "fmnist: crash zombie flow runs"
# The body of Prefect's `POST /automations/`: no heartbeat and no final state in time → Crashed.
ZOMBIE_AUTOMATION = MappingProxyType(
    {
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
)


def ensure_zombie_automation(api_url: str, auth_string: str) -> None:
    """Create the automation on the Prefect API at ``api_url`` unless it is there already."""
    existing = _post_json(f"{api_url}/automations/filter", {}, auth_string)
    if not any(a.get("name") == ZOMBIE_AUTOMATION_NAME for a in existing):
        _post_json(f"{api_url}/automations/", dict(ZOMBIE_AUTOMATION), auth_string)


def _post_json(url: str, body: object, auth_string: str) -> list[dict[str, object]] | dict[str, object]:
    authorization = f"Basic {base64.b64encode(auth_string.encode()).decode()}"
    headers = {"Content-Type": "application/json", "Authorization": authorization}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:  # the stack's own Prefect API
        return json.loads(response.read() or b"null")
