"""The model URIs fmnist reads a model by, and what each one names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from fmnist.errors import FmnistError

FORMS = "models:/<name>@<alias>, models:/<name>/<version>, models:/m-<id> or runs:/<run id>/<path>"


@dataclass(frozen=True)
class ModelRef:
    """What a model URI names: a registered ``name`` at an ``alias`` or ``version``, a ``logged`` model id, or a
    ``run`` id (``ref`` is then the model's path in the run)."""

    kind: Literal["alias", "version", "logged", "run"]
    name: str
    ref: str = ""


def parse_model_uri(uri: str) -> ModelRef:
    """Split ``uri`` into what it names; a URI of any other form is refused with the forms accepted."""
    if found := re.fullmatch(r"runs:/([^/]+)/(.+)", uri):
        return ModelRef("run", found[1], found[2])
    if found := re.fullmatch(r"models:/(m-[0-9a-f]+)", uri):
        return ModelRef("logged", found[1])
    if found := re.fullmatch(r"models:/([^/@]+)@([^/@]+)", uri):
        return ModelRef("alias", found[1], found[2])
    if found := re.fullmatch(r"models:/([^/@]+)/(\d+)", uri):
        return ModelRef("version", found[1], found[2])
    raise FmnistError(f"model URI {uri!r} not understood; use {FORMS}")
