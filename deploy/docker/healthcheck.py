"""Container health check: is the service in this container alive?

The image runs one of several services, chosen by the command, so the check finds out
which from the main process's command line (``/proc/1/cmdline``) and asks its liveness
path: ``adstack-gateway`` on ``PORT`` (3002), ``adstack-ingester`` on ``INGESTER_PORT``
(3700), a ``--port N`` argument winning over both. Other commands (``adstack-devnet``)
have no HTTP port: the container is healthy while it runs. ``HEALTHCHECK_URL`` overrides
everything. Standard library only; exit 0 = healthy, 1 = unhealthy.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

LIVE_PATH = "/health/live"
SERVICES = {
    # marker in the command line → (port variable, default port)
    "adstack-ingester": ("INGESTER_PORT", "3700"),
    "adstack_ingester": ("INGESTER_PORT", "3700"),
    "adstack-gateway": ("PORT", "3002"),
    "adstack_gateway": ("PORT", "3002"),
}


def port_argument(cmdline: Sequence[str]) -> str | None:
    """The value of ``--port N`` / ``--port=N`` in the command line, if any."""
    for index, arg in enumerate(cmdline):
        if arg == "--port" and index + 1 < len(cmdline):
            return cmdline[index + 1]
        if arg.startswith("--port="):
            return arg.split("=", 1)[1]
    return None


def target_url(cmdline: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The liveness URL for the service in ``cmdline``; None if it has no HTTP port."""
    if env.get("HEALTHCHECK_URL"):
        return env["HEALTHCHECK_URL"]
    for arg in cmdline:
        for marker, (variable, default) in SERVICES.items():
            if arg.endswith(marker) or arg == marker:
                port = port_argument(cmdline) or env.get(variable) or default
                return f"http://127.0.0.1:{port}{LIVE_PATH}"
    return None


def read_cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]


def check(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, default=1, help="process whose service to check")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    try:
        cmdline = read_cmdline(args.pid)
    except OSError:
        print(f"healthcheck: process {args.pid} is gone", file=sys.stderr)
        return 1
    url = target_url(cmdline, os.environ)
    if url is None:
        return 0
    healthy = check(url, args.timeout)
    if not healthy:
        print(f"healthcheck: {url} did not answer 200", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
