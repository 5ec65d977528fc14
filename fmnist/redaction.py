"""Keep URL passwords out of everything fmnist writes: errors, MLflow params and tags, reports, Prefect artifacts.

:func:`redact` keeps the user name (the text still says which account was used) and hides the password.
"""

from __future__ import annotations

import re

# scheme://user:password@  (the password runs to the last "@" before the host; it may contain ":" but not "/")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/\s:@]*):(?P<password>[^/\s]*)@")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
