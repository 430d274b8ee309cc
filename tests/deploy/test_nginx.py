"""deploy/nginx/nginx.conf: balanced blocks, terminated directives, WebSocket upgrade for
/ws and /socket.io/, sticky upstream for Socket.IO polling, no ops endpoints exposed."""

from __future__ import annotations

import re

import pytest

from tests.helpers.deploy import DEPLOY

pytestmark = pytest.mark.deploy

CONF = DEPLOY / "nginx" / "nginx.conf"


def text() -> str:
    return "\n".join(line.split("#", 1)[0] for line in CONF.read_text().splitlines())


def block(name: str) -> str:
    """The body of the first block whose header starts with ``name``."""
    source = text()
    start = source.index(name)
    open_ = source.index("{", start)
    depth = 0
    for index in range(open_, len(source)):
        depth += {"{": 1, "}": -1}.get(source[index], 0)
        if depth == 0:
            return source[open_ + 1:index]
    raise AssertionError(f"unclosed block {name}")


def test_blocks_balance_and_directives_end_with_semicolons() -> None:
    source = text()
    assert source.count("{") == source.count("}")
    for raw in source.splitlines():
        line = raw.strip()
        if line and not line.endswith(("{", "}", ";")):
            # Only a quoted string continued on the next line may end otherwise.
            assert line.endswith("'"), line


@pytest.mark.parametrize("location", ["location /ws", "location /socket.io/"])
def test_websocket_locations_upgrade(location: str) -> None:
    body = block(location)
    assert "proxy_http_version 1.1;" in body
    assert "proxy_set_header Upgrade $http_upgrade;" in body
    assert "proxy_set_header Connection $connection_upgrade;" in body
    timeout = re.search(r"proxy_read_timeout (\d+)([smh]);", body)
    assert timeout and timeout.group(2) in {"m", "h"}, "long-lived connections"


def test_socket_io_is_sticky_and_ws_is_not() -> None:
    assert "proxy_pass http://gateways_sticky;" in block("location /socket.io/")
    assert "hash $remote_addr" in block("upstream gateways_sticky")
    assert "proxy_pass http://gateways;" in block("location /ws")
    assert "hash" not in block("upstream gateways ")


def test_metrics_and_status_are_not_exposed() -> None:
    source = text()
    assert "location /metrics" not in source and "location /status" not in source
    assert "return 404;" in block("location / ")
