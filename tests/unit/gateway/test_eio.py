"""The Engine.IO layer's logging rules: one INFO line per kind of violation every 10 s,
and python-engineio's own log calls mapped down (a traceback stays ERROR)."""

from __future__ import annotations

import logging

import pytest

from adstack_gateway.eio import LibraryLog, ViolationLog


def test_one_info_line_per_kind_per_period() -> None:
    levels = ViolationLog(every=10.0)
    assert levels.level("eio_garbage", 100.0) == logging.INFO
    assert levels.level("eio_garbage", 105.0) == logging.DEBUG
    assert levels.level("invalid_utf8", 105.0) == logging.INFO  # another kind
    assert levels.level("eio_garbage", 110.0) == logging.INFO
    assert levels.level("eio_garbage", 110.5) == logging.DEBUG


def test_library_log_levels(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.engineio")
    adapter = LibraryLog(logger, {})
    with caplog.at_level(logging.DEBUG, logger="test.engineio"):
        adapter.info("Sending packet")
        adapter.warning("Cannot send to sid")
        adapter.error("Invalid session x (further occurrences …)")
        try:
            raise ValueError("boom")
        except ValueError:
            adapter.exception("post request handler error")
    assert [(r.levelno, r.exc_info is not None) for r in caplog.records] == [
        (logging.DEBUG, False), (logging.INFO, False), (logging.INFO, False),
        (logging.ERROR, True)]
