"""The dev loop tells the truth: a taken port stops ``adstack-dev`` before anything starts,
``make watch`` without a stack says so, and ``adstack-token`` mints tokens the gateway
accepts (real processes, real ports)."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest

from adstack_localredis import free_port
from tests.helpers import services
from tests.helpers.client import WsClient
from tests.helpers.paths import REPO

pytestmark = [pytest.mark.e2e]

CAMPAIGN = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
AUCTION = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine"
BIN = Path(sys.executable).parent


class _Healthy(http.server.BaseHTTPRequestHandler):
    """Another program on the port, answering /health with 200 like a gateway would."""

    def do_GET(self) -> None:
        body = json.dumps({"status": "healthy", "metrics": {"pid": 1}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def impostor() -> Iterator[int]:
    """A port taken by an HTTP server that answers /health 200."""
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def dev_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("REDIS_URL", "JWT_SECRET", "LOG_LEVEL") and not k.startswith("PYTEST_")}


@pytest.mark.parametrize("role", ["gateway", "ingester"])
def test_dev_with_a_taken_port_fails_in_one_line_before_starting_anything(
        impostor: int, tmp_path: Path, role: str) -> None:
    ports = {"gateway": f"{free_port()},{free_port()}", "ingester": str(free_port())}
    if role == "gateway":
        ports["gateway"] = f"{free_port()},{impostor}"
    else:
        ports["ingester"] = str(impostor)
    (tmp_path / ".dev-token").write_text("token-of-a-running-stack\n")
    proc = subprocess.run(
        [sys.executable, "-m", "adstack_devnet.dev", "--gateway-ports", ports["gateway"],
         "--ingester-port", ports["ingester"]],
        cwd=tmp_path, env=dev_env(), capture_output=True, timeout=60, check=False)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"port {impostor} ({role}) is already in use" in lines[0]
    assert "is running" not in out and out == "", out
    # Nothing was started and the running stack's token is untouched.
    assert (tmp_path / ".dev-token").read_text() == "token-of-a-running-stack\n"
    assert not (tmp_path / ".dev-secret").exists()


def test_watch_without_a_stack_says_so_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "adstack_devnet.watch", "--url", f"ws://127.0.0.1:{port}/ws",
         "--contract", CAMPAIGN], cwd=tmp_path, capture_output=True, timeout=30, check=False)
    assert proc.returncode == 3
    assert proc.stdout == b""
    lines = proc.stderr.decode().strip().splitlines()
    assert lines == [f"watch: nothing answers at ws://127.0.0.1:{port}/ws; "
                     "start the stack first (make dev)"]
    # Through make: that line and nothing else (no "make: *** … Error" after it).
    made = subprocess.run(["make", "--no-print-directory", "-s", "-C", str(REPO), "watch",
                           f"GATEWAY_PORTS={port}"], capture_output=True, timeout=120,
                          check=False)
    assert made.returncode == 0, made.stderr
    assert made.stderr.decode().strip().splitlines()[-1:] == lines
    assert b"Error" not in made.stderr


def token_cli(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "PYTEST_"))}
    return subprocess.run([str(BIN / "adstack-token"), *args], env={**base, **env},
                          capture_output=True, timeout=30, check=False)


async def test_adstack_token_is_accepted_by_a_gateway_with_the_same_settings(
        clean_redis: str, log_dir: Path) -> None:
    proc = token_cli("--user", "alice", "--contract", CAMPAIGN, "--expires", "10m",
                     "--claim", "role=operator", "--json",
                     JWT_SECRET=services.TEST_SECRET, JWT_ISSUER="adstack-tests")
    assert proc.returncode == 0, proc.stderr.decode()
    minted = json.loads(proc.stdout)
    claims = jwt.decode(minted["token"], services.TEST_SECRET, algorithms=["HS256"],
                        issuer="adstack-tests")
    assert claims == minted["claims"]
    assert claims["userId"] == "alice" and claims["contracts"] == [CAMPAIGN]
    assert claims["role"] == "operator" and claims["exp"] - claims["iat"] == 600

    with services.gateway(clean_redis, log_dir, JWT_ISSUER="adstack-tests").start() as gw:
        async with WsClient(gw.ws, minted["token"]) as client:
            connected = await client.wait_for("connected")
            assert connected[0]["userId"] == "alice"
            ok = await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
            assert ok["contractId"] == CAMPAIGN
            refused = await client.request("subscribe", {"contractId": AUCTION}, "subscribed")
            assert refused["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("args", "env", "message"), [
    ((), {}, "JWT_SECRET"),
    (("--expires", "soon"), {"JWT_SECRET": services.TEST_SECRET}, "--expires must be"),
    (("--claim", "nokey"), {"JWT_SECRET": services.TEST_SECRET}, "--claim must be key=value"),
    ((), {"JWT_PUBLIC_KEY_FILE": "/nonexistent.pem"}, "--private-key"),
])
def test_adstack_token_refuses_in_one_line(args: tuple[str, ...], env: dict[str, str],
                                           message: str) -> None:
    proc = token_cli(*args, **env)
    assert proc.returncode == 2
    assert proc.stdout == b""
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("adstack-token: ") and message in lines[0], (
        lines)


def test_port_check_sees_a_listener_on_loopback_only() -> None:
    from adstack_devnet.dev import port_taken

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert port_taken(sock.getsockname()[1])
    assert not port_taken(free_port())


def test_watch_reconnects_through_the_sdk_and_ctrl_c_is_clean(
        clean_redis: str, log_dir: Path, token: str) -> None:
    """make watch's client: events printed, the gateway restarted under it (same port), it
    reconnects and resumes (later offsets, none twice), and Ctrl-C exits 0 without a
    traceback."""
    import signal
    import time

    with services.ingester(clean_redis, log_dir).start() as ing, \
            services.gateway(clean_redis, log_dir).start() as gw:
        gw.wait_healthy()
        devnet = subprocess.Popen(
            [sys.executable, "-m", "adstack_devnet", "--ingester-url", ing.http, "--rate", "5"],
            env=services.base_env(clean_redis), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        out_path = log_dir / "watch.out"
        with open(out_path, "wb") as out, open(log_dir / "watch.err", "wb") as err:
            watch = subprocess.Popen(
                [sys.executable, "-m", "adstack_devnet.watch", "--url", gw.ws,
                 "--token", token, "--contract", CAMPAIGN], stdout=out, stderr=err)
        try:
            def offsets() -> list[int]:
                return [int(line[1:].split()[0]) for line in
                        out_path.read_text().splitlines() if line.startswith("#")]

            def wait_for(predicate: Callable[[], bool], what: str) -> None:
                deadline = time.monotonic() + 30
                while not predicate():
                    assert watch.poll() is None, (log_dir / "watch.err").read_text()
                    assert time.monotonic() < deadline, what
                    time.sleep(0.1)

            wait_for(lambda: len(offsets()) >= 2, "events before the restart")
            gw.stop()
            before = max(offsets())
            gw.start()
            wait_for(lambda: max(offsets()) > before + 2, "events after the restart")
            seen = offsets()
            assert len(seen) == len(set(seen)), "no event printed twice"
            assert seen == sorted(seen)
        finally:
            watch.send_signal(signal.SIGINT)
            watch.wait(20)
            os.killpg(devnet.pid, signal.SIGTERM)
            devnet.wait(20)
    assert watch.returncode == 0
    assert (log_dir / "watch.err").read_text().strip() == "watch: stopped"
