"""Credentials in URL query strings never reach a log line."""

from __future__ import annotations

import io
import logging

import pytest

from adstack_runtime import JsonFormatter, QuerySecretFilter, ReadableFormatter

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOiJ1In0.c2lnbmF0dXJl"


def logged(message: str, *args: object, json_lines: bool = False) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("gateway") if json_lines else ReadableFormatter("gw"))
    handler.addFilter(QuerySecretFilter())
    logger = logging.getLogger(f"test-redaction-{json_lines}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info(message, *args)
    return stream.getvalue()


@pytest.mark.parametrize("json_lines", [False, True])
@pytest.mark.parametrize("path", [
    f"/ws?token={JWT}",
    f"/socket.io/?EIO=4&transport=websocket&token={JWT}",
    f"/ws?TOKEN={JWT}&x=1",
    f"/ws?access_token={JWT}",
    # Issue 18 item 7: the server decodes the name, so these authenticate too.
    f"/ws?%74oken={JWT}",
    f"/ws?%74%6F%6B%65%6E={JWT}",
    f"/ws?ToKeN={JWT}",
    f"/ws?x=1&%2574oken={JWT}",
    f"/ws?x=1;token={JWT}",
])
def test_uvicorns_handshake_line_is_masked(path: str, json_lines: bool) -> None:
    # What uvicorn logs for each WebSocket it accepts.
    line = logged('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", path,
                  json_lines=json_lines)
    assert JWT not in line
    assert "=***" in line and "127.0.0.1:5000" in line


def test_lines_without_query_secrets_are_untouched() -> None:
    line = logged("block %d %s: %d published", 16, "0xabc", 4)
    assert "block 16 0xabc: 4 published" in line
    assert "token = 5" in logged("token = %d", 5)  # not a query string


def test_a_repeated_token_is_masked_every_time() -> None:
    line = logged('"WebSocket %s"', f"/ws?token={JWT}&token={JWT}x&%54OKEN={JWT}y")
    assert JWT not in line
    assert line.count("=***") == 3
