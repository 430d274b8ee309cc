"""deploy/nginx/nginx.conf: balanced blocks, terminated directives, WebSocket upgrade for
/ws and /socket.io/, sticky upstream for Socket.IO polling, no ops endpoints exposed; then
Debian's real nginx: ``nginx -t`` on a runnable copy, and that copy in front of a real
gateway serving /, /static/…, /sse, /ws and /socket.io/."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adstack_localredis import free_port
from tests.helpers import services
from tests.helpers.client import WsClient
from tests.helpers.deploy import DEPLOY
from tests.helpers.requires import unavailable

pytestmark = pytest.mark.deploy

CONF = DEPLOY / "nginx" / "nginx.conf"
CAMPAIGN = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


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


# -- the real nginx (Debian's package) on a copy of the config -------------------------------

def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if found is None:
        unavailable("Debian's nginx is not installed (apt-get install nginx)",
                    installed_by=".ci/run installs Debian's nginx")
    assert found is not None
    return found


def runnable_copy(directory: Path, *, listen: int, upstream: str) -> Path:
    """deploy/nginx/nginx.conf with the compose host names replaced by ``upstream``
    (host:port), ``listen 80`` by a loopback port and the pid file moved into ``directory``.
    Nothing else changes, so what runs is the config compose mounts."""
    source = CONF.read_text()
    for old, count in (("gateway-a:3002", 2), ("gateway-b:3002", 2), ("listen 80;", 1),
                       ("pid /tmp/nginx.pid;", 1)):
        assert source.count(old) == count, f"{old!r} appears {source.count(old)} times"
    source = (source.replace("gateway-a:3002", upstream).replace("gateway-b:3002", upstream)
              .replace("listen 80;", f"listen 127.0.0.1:{listen};")
              .replace("pid /tmp/nginx.pid;", f"pid {directory}/nginx.pid;"))
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)  # worker processes (nobody when run as root) write temp files
    path = directory / "nginx.conf"
    path.write_text(source)
    return path


def test_nginx_t_accepts_the_config(tmp_path: Path) -> None:
    nginx = nginx_binary()
    conf = runnable_copy(tmp_path, listen=free_port(), upstream="127.0.0.1:9")
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", "/dev/stderr",
                             "-c", str(conf)], capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_t_has_teeth(tmp_path: Path) -> None:
    nginx = nginx_binary()
    conf = runnable_copy(tmp_path, listen=free_port(), upstream="127.0.0.1:9")
    conf.write_text(conf.read_text().replace("proxy_buffering off;", "proxy_buffering of;", 1))
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", "/dev/stderr",
                             "-c", str(conf)], capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode != 0 and "proxy_buffering" in result.stderr


@pytest.fixture()
def lb(clean_redis: str, log_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The real nginx with the compose config in front of one real gateway."""
    nginx = nginx_binary()
    with services.gateway(clean_redis, log_dir, FORWARDED_ALLOW_IPS="127.0.0.1").start() as gw:
        gw.wait_healthy()
        port = free_port()
        conf = runnable_copy(tmp_path / "nginx", listen=port, upstream=f"127.0.0.1:{gw.port}")
        proc = subprocess.Popen([nginx, "-p", str(tmp_path / "nginx"), "-e", "/dev/stderr",
                                 "-c", str(conf), "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while True:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/lb/health").status_code == 200:
                        break
                assert time.monotonic() < deadline, "nginx did not answer"
                time.sleep(0.1)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)
            if proc.stderr is not None:
                proc.stderr.close()


async def test_nginx_serves_what_a_frontend_needs(lb: str, token: str) -> None:
    """Through the one published port: the dashboard, its assets and the browser client,
    SSE (unbuffered), the native WebSocket and Socket.IO; ops endpoints stay hidden."""
    async with httpx.AsyncClient(base_url=f"http://{lb}", timeout=10) as http:
        for path in ("/", "/dashboard"):
            page = await http.get(path)
            assert page.status_code == 200 and "<title>AdStack Realtime" in page.text, path
        for asset, kind in (("adstack-client.js", "javascript"), ("dashboard.js", "javascript"),
                            ("dashboard.css", "css")):
            reply = await http.get(f"/static/{asset}")
            assert reply.status_code == 200 and kind in reply.headers["content-type"], asset
        for hidden in ("/metrics", "/status", "/nope"):
            assert (await http.get(hidden)).status_code == 404, hidden
        polling = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling",
                                                        "token": token})
        assert polling.status_code == 200 and polling.text.startswith("0{"), polling.text
        async with http.stream("GET", "/sse", params={"contractId": CAMPAIGN, "token": token},
                               headers={"accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            first = await anext(stream.aiter_lines())
            assert first, "the first SSE line arrives unbuffered"
    async with WsClient(f"ws://{lb}/ws", token) as client:
        connected = await client.wait_for("connected")
        assert connected[0]["socketId"]
