"""Resolve a service of docker/compose.yaml as Compose would, so its server can also run without containers.

Compose builds a container's environment from the service's ``env_file`` list (dotenv files whose values may use
``${VAR}`` and ``${VAR:-default}``, looked up in the project environment first, then in the lines read before)
and then its ``environment`` mapping. :func:`service_env` does the same from a plain mapping, so a containerless
test starts ``mlflow server`` / ``prefect server start`` with the very settings of docker/settings/, not a copy;
test_compose.py checks that it agrees with ``docker compose config``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

DOCKER_DIR = Path(__file__).resolve().parents[3] / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


@cache
def compose_model() -> dict[str, Any]:
    """docker/compose.yaml as YAML (merge keys applied), not interpolated."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` (default when unset or empty); reject any other ``${`` form."""

    def lookup(match: re.Match[str]) -> str:
        found = env.get(match["name"], "")
        return found if found or match["default"] is None else match["default"]

    result = _REFERENCE.sub(lookup, value)
    if "${" in result:
        raise ValueError(f"unsupported interpolation in {value!r}: only ${{VAR}} and ${{VAR:-default}}")
    return result


def read_env_files(paths: list[Path], environ: Mapping[str, str]) -> dict[str, str]:
    """Read dotenv files in order; a reference resolves from ``environ`` first, then from earlier lines."""
    values: dict[str, str] = {}
    for path in paths:
        raw = dotenv_values(stream=io.StringIO(path.read_text()), interpolate=False)
        for name, value in raw.items():
            values[name] = interpolate(value or "", {**values, **environ})
    return values


def service_env(service: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment Compose gives ``service`` when the project environment is ``environ``."""
    spec = compose_model()["services"][service]
    env = read_env_files([DOCKER_DIR / name for name in spec.get("env_file", [])], environ)
    env.update({name: interpolate(str(value), environ) for name, value in (spec.get("environment") or {}).items()})
    return env


def service_command(service: str) -> list[str]:
    """The command ``service`` runs, as the container sees it (``$$`` is Compose's escape for ``$``).

    An ``entrypoint`` in compose.yaml comes first (minio-bucket: ``sh -c`` instead of the MinIO image's own).
    """
    spec = compose_model()["services"][service]
    return [part.replace("$$", "$") for part in [*spec.get("entrypoint", []), *spec["command"]]]
