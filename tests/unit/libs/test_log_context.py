"""Connection and block ids follow their work through log lines, in both formats."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from adstack_runtime import (
    JsonFormatter,
    LogContextFilter,
    ReadableFormatter,
    bind_log_context,
    log_context,
    log_fields,
)

log = logging.getLogger("adstack.test.context")


@pytest.fixture()
def stream() -> Iterator[io.StringIO]:
    """A JSON-lines handler on a test logger, as setup_logging installs it."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("unit"))
    handler.addFilter(LogContextFilter())
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        yield buffer
    finally:
        log.removeHandler(handler)
        log.propagate = True


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_fields_appear_only_inside_the_context(stream: io.StringIO) -> None:
    log.info("before")
    with log_context(block="0xabc", height=16):
        log.info("inside")
        with log_context(contract="SP1.x"):
            log.info("nested")
    log.info("after")
    out = lines(stream)
    assert "block" not in out[0] and "block" not in out[3]
    assert out[1]["block"] == "0xabc" and out[1]["height"] == "16"
    assert out[2]["block"] == "0xabc" and out[2]["contract"] == "SP1.x"
    assert log_fields() == {}


def test_explicit_extra_wins_over_the_context(stream: io.StringIO) -> None:
    with log_context(block="context"):
        log.info("x", extra={"block": "explicit"})
    assert lines(stream)[0]["block"] == "explicit"


async def test_each_connection_task_logs_its_own_id(stream: io.StringIO) -> None:
    """Two connections run concurrently; their lines (and their writer tasks') never mix."""

    async def writer() -> None:
        await asyncio.sleep(0.01)
        log.info("writer")

    async def connection(conn_id: str) -> None:
        bind_log_context(conn=conn_id)
        task = asyncio.create_task(writer())  # inherits the connection's id
        for step in range(3):
            log.info("step %d", step)
            await asyncio.sleep(0)
        await task

    await asyncio.gather(connection("c-1"), connection("c-2"))
    out = lines(stream)
    assert len(out) == 8
    for line in out:
        assert line["conn"] in {"c-1", "c-2"}
    assert sorted(str(line["conn"]) for line in out if line["msg"] == "writer") == [
        "c-1", "c-2"]
    assert log_fields() == {}, "tasks did not leak into the caller"


def test_readable_lines_end_with_the_ids() -> None:
    record = logging.LogRecord("adstack.x", logging.INFO, __file__, 1, "hello %s", ("you",),
                               None)
    with log_context(conn="c-9", block="0xdef"):
        LogContextFilter().filter(record)
    line = ReadableFormatter("gateway").format(record)
    assert line.endswith("gateway adstack.x: hello you conn=c-9 block=0xdef")
