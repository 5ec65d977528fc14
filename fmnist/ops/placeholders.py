"""Refuse to start a stack whose secrets are still the placeholders of ``docker/.env.example``.

Compose can require a variable (``${NAME:?}``) but not that it differ from ``change-me``: its first service,
``secrets-check``, runs ``python -m fmnist.ops.placeholders NAME...`` and every other service waits for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

PLACEHOLDER = "change-me"
MIN_LENGTH = 16


def weak_secrets(env: Mapping[str, str], names: Sequence[str]) -> list[str]:
    """The names among ``names`` whose secret is missing, still holds the placeholder, or is shorter than
    :data:`MIN_LENGTH` characters (for ``user:password`` values, the password)."""
    weak = []
    for name in names:
        value = env.get(name, "")
        secret = value.split(":", 1)[1] if name.endswith("AUTH_STRING") and ":" in value else value
        if PLACEHOLDER in value or len(secret) < MIN_LENGTH:
            weak.append(name)
    return weak


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line naming every weak secret and return 2, or return 0 when every one is set properly."""
    names = list(sys.argv[1:] if argv is None else argv)
    weak = weak_secrets(os.environ, names)
    if weak:
        print(
            f"error: docker/.env: {', '.join(weak)} still hold the placeholder {PLACEHOLDER!r} or fewer than"
            f" {MIN_LENGTH} characters; set each to a random value (e.g. `openssl rand -hex 24`) and start again",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
