"""The local stack's client settings: its two URLs and credentials, in an env file that only the user can read.

``up`` writes fresh ones each time (mode 0600, atomically). Nothing here prints a value: errors name the file and
the line, never what is in it.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fmnist.atomic import atomic_write_text
from fmnist.errors import FmnistError

USER = "fmnist"
PRIVATE = 0o600


def fresh(prefect_api_url: str, mlflow_url: str) -> dict[str, str]:
    """Client settings with new random credentials for the one user, ``fmnist``, of both servers."""
    return {
        "PREFECT_API_URL": prefect_api_url,
        "PREFECT_API_AUTH_STRING": f"{USER}:{secrets.token_urlsafe(32)}",
        "MLFLOW_TRACKING_URI": mlflow_url,
        "MLFLOW_TRACKING_USERNAME": USER,
        "MLFLOW_TRACKING_PASSWORD": secrets.token_urlsafe(32),
    }


def write(path: Path, settings: dict[str, str]) -> None:
    """Write ``settings`` to ``path``, readable and writable by the user only from its first byte on."""
    atomic_write_text(path, "".join(f"{key}={value}\n" for key, value in settings.items()), mode=PRIVATE)


def read(path: Path) -> dict[str, str]:
    """The settings in ``path``. Refuses a file other users could read: its credentials may be known."""
    redo = "remove it and run `fmnist stack up` again"
    try:
        if path.stat().st_mode & 0o077:
            raise FmnistError(f"the stack's credentials {path} can be read by other users; {redo}")
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FmnistError(f"cannot read the stack's credentials {path} ({exc.__class__.__name__}); {redo}") from None
    settings = {}
    for number, line in enumerate(lines, 1):
        key, sep, value = line.partition("=")
        if not (sep and key.isidentifier()):
            raise FmnistError(f"the stack's credentials {path}: line {number} is not KEY=value; {redo}")
        settings[key] = value
    return settings
