"""The ``fmnist`` command line."""

from __future__ import annotations

from fmnist.cli.app import app
from fmnist.cli.main import main

__all__ = ["app", "main"]
