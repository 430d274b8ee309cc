"""Secrets are shown as set/unset and scrubbed wherever they end up."""

from __future__ import annotations

from adstack_bus import redacted_url
from adstack_config import REDACTED, presence, scrub


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
    assert redacted_url("redis://user:pw-123@host:6380/1") == "redis://user:***@host:6380/1"
    assert redacted_url("redis://host:6379/0") == "redis://host:6379/0"
