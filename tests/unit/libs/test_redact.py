"""Secrets are shown as set/unset and scrubbed wherever they end up."""

from __future__ import annotations

import pytest

from adstack_bus import redacted_url
from adstack_config import REDACTED, presence, redact_url, scrub, url_secrets


def test_presence() -> None:
    assert presence("s3cret") == "set"
    assert presence(None) == "unset" and presence("") == "unset"


def test_scrub_replaces_secrets_anywhere() -> None:
    doc = {"url": "redis://u:hunter22@h:6379", "list": ["x hunter22 y", 3, None],
           "hunter22": {"nested": ("tok-abcdef",)}, "n": 1.5}
    out = scrub(doc, ["hunter22", "tok-abcdef", None, ""])
    assert out == {"url": f"redis://u:{REDACTED}@h:6379", "list": [f"x {REDACTED} y", 3, None],
                   REDACTED: {"nested": [REDACTED]}, "n": 1.5}


def test_scrub_prefers_the_longest_secret() -> None:
    assert scrub("abcdefgh", ["abcd", "abcdefgh"]) == REDACTED


def test_scrub_ignores_too_short_values() -> None:
    assert scrub({"x": "a1b"}, ["a1"]) == {"x": "a1b"}


def test_redacted_url_masks_the_password() -> None:
    assert redacted_url("redis://user:pw-123@host:6380/1") == "redis://***:***@host:6380/1"
    assert redacted_url("redis://host:6379/0") == "redis://host:6379/0"


# Every credential form redis-py's from_url accepts (issue 18 item 6: ?password= and
# passwords under 4 characters were shown verbatim on /status).
REDIS_URL_FORMS = [
    ("redis://app:Qz9@h:6380/1", "redis://***:***@h:6380/1", ["Qz9", "app"]),
    ("redis://:Qz9@h:6380/1", "redis://***:***@h:6380/1", ["Qz9"]),
    ("redis://Qz9@h/0", "redis://***@h/0", ["Qz9"]),
    ("redis://:p%40ss%3Aw@h/0", "redis://***:***@h/0", ["p%40ss", "p@ss:w"]),
    ("redis://:p@ss@h/0", "redis://***:***@h/0", ["p@ss"]),
    ("redis://h:6379/0?password=Qz9", "redis://h:6379/0?password=***", ["Qz9"]),
    ("redis://h/0?username=ops-Yk4&password=Qz9", "redis://h/0?username=***&password=***",
     ["ops-Yk4", "Qz9"]),
    ("redis://h/0?PassWord=Qz9&db=2", "redis://h/0?PassWord=***&db=2", ["Qz9"]),
    ("redis://h/0?%70assword=Qz9", "redis://h/0?password=***", ["Qz9"]),
    ("redis://h/0?password=a&password=Qz9", "redis://h/0?password=***&password=***", ["Qz9"]),
    ("rediss://u:Qz9@h:abc/0?ssl_password=Kx1", "rediss://***:***@h:abc/0?ssl_password=***",
     ["Qz9", "Kx1"]),
    ("unix://:Qz9@/tmp/redis.sock?db=0", "unix://***:***@/tmp/redis.sock?db=0", ["Qz9"]),
    ("redis://h:6379/0#Qz9", "redis://h:6379/0#***", ["Qz9"]),
]


@pytest.mark.parametrize(("url", "shown", "hidden"), REDIS_URL_FORMS)
def test_redacted_url_masks_every_credential_form(url: str, shown: str,
                                                  hidden: list[str]) -> None:
    for redact in (redacted_url, redact_url):
        out = redact(url)
        assert out == shown
        for secret in hidden:
            assert secret not in out


def test_redacted_url_keeps_what_has_no_credential() -> None:
    for url in ("redis://h:6379/0", "redis://h/0?db=3&health_check_interval=2", "redis://h"):
        assert redacted_url(url) == url


def test_url_secrets_lists_passwords_not_user_names() -> None:
    assert set(url_secrets("redis://app:p%40w@h/0?password=Qz9&username=u1")) >= {
        "p@w", "p%40w", "Qz9"}
    assert "app" not in url_secrets("redis://app:pw@h/0")
    assert "u1" not in url_secrets("redis://h/0?username=u1")
