"""The software a result was made with: versions logged next to it, and the pins a logged model installs."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version


def environment_params() -> dict[str, str]:
    """Library and machine versions worth knowing next to a result."""
    return {
        "env.python": platform.python_version(),
        "env.platform": platform.platform(),
        "env.cpu_count": str(os.cpu_count()),
        "env.numpy": version("numpy"),
        "env.mlflow": version("mlflow"),
    }


def pip_requirements(framework: str) -> list[str]:
    """Pinned requirements of a logged model: what its predict imports, at the versions it was trained with.

    CPU builds only: ``tensorflow-cpu``, and torch without its local ``+cpu`` tag (the exact pin resolves to the
    CPU wheel, see requirements.lock).
    """
    base = ["numpy", "pyarrow", "pandas", "mlflow"]
    extra = ["torch"] if framework == "torch" else ["tensorflow-cpu", "keras"]
    return [f"{p}=={version(p)}".replace("+cpu", "") for p in base + extra]
