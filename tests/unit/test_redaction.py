"""Passwords in URLs are hidden wherever fmnist writes text; user names and everything else stay."""

from __future__ import annotations

import pytest

from fmnist.errors import SourceError
from fmnist.redaction import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:s3cret@host/x", "https://user:***@host/x"),
        (
            "get http://a:b@127.0.0.1:5000/api, s3://k:p:q@bucket/p",
            "get http://a:***@127.0.0.1:5000/api, s3://k:***@bucket/p",
        ),
        ("postgresql://u:p@ss@db:5432/m", "postgresql://u:***@db:5432/m"),  # an unescaped @ in the password
        ("http://:token@host/", "http://:***@host/"),
        ("http://host:5000/x", "http://host:5000/x"),  # a port is not a password
        ("http://user@host/x", "http://user@host/x"),  # no password
        ("user:pass@host", "user:pass@host"),  # not a URL
    ],
)
def test_redact_hides_the_password_of_every_url(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_an_error_never_carries_a_password() -> None:
    error = SourceError("https://reader:pa55@example.org/fmnist/: unreachable")
    assert str(error) == "https://reader:***@example.org/fmnist/: unreachable"
