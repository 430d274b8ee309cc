"""The kernel floor of fan-out on this machine: one message to N loopback TCP sockets from a
plain ``socket.send`` loop, with no WebSocket framing, no Redis, no event loop.

Whatever a gateway does on top, it cannot reach the last of N clients sooner than this loop
does, so the figures say which latency targets the machine allows at all. Two measurements
per audience:

- **readers active**: the readers (in ``--procs`` processes, as in ``make bench``) drain
  their sockets as data arrives, sharing the CPUs with the sender; the time from the first
  ``send`` until the last socket has its message is what a client-side p99 can at best be.
- **sender alone**: the readers wait until the loop is over, so the loop's duration is the
  sender's own cost (system calls, loopback delivery, wake-ups), per ``send``.

Run it: ``python -m adstack_bench.floor --clients 1000,5000`` (``make bench`` runs it too).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import selectors
import socket
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import cast

from adstack_bench.stats import shares
from adstack_bench.system import raise_fd_limit


@dataclass
class Floor:
    """Medians over the rounds of one audience."""

    clients: int
    send_ms: float
    """Send loop duration with the readers active."""
    last_ms: float
    """From the first send until the last reader has its message (readers active)."""
    alone_ms: float
    """Send loop duration with the readers waiting (the sender's own cost)."""

    @property
    def us_per_send(self) -> float:
        return self.alone_ms * 1000 / self.clients if self.clients else 0.0


def _reader(port: int, count: int, size: int, control: Queue[float | None],
            out: Queue[object]) -> None:
    """One reader process: ``count`` sockets; per round, read ``size`` bytes from each."""
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    out.put("connected")
    while True:
        wait = control.get()
        if wait is None:
            break
        out.put("ready")
        if wait:
            time.sleep(wait)
        expected = count * size
        got = 0
        first = last = 0
        while got < expected:
            for key, _ in sel.select():
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                got += len(data)
                last = time.time_ns()
                first = first or last
        out.put((first, last))
    for s in socks:
        s.close()


def measure(clients: int, *, procs: int = 2, rounds: int = 5, size: int = 700,
            log: bool = False) -> Floor:
    """Run ``rounds`` active and ``rounds`` sender-alone fan-outs to ``clients`` sockets."""
    raise_fd_limit()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(min(clients, 65535))
    port = listener.getsockname()[1]
    ctx = mp.get_context("spawn")
    out: Queue[object] = ctx.Queue()
    controls: list[Queue[float | None]] = []
    readers = []
    for count in shares(clients, procs):
        control: Queue[float | None] = ctx.Queue()
        proc = ctx.Process(target=_reader, args=(port, count, size, control, out), daemon=True)
        proc.start()
        controls.append(control)
        readers.append(proc)
    conns: list[socket.socket] = []
    try:
        while len(conns) < clients:
            conn, _ = listener.accept()
            conns.append(conn)
        for _ in readers:
            assert out.get(timeout=60) == "connected"
        message = b"x" * size
        send_ms: list[float] = []
        last_ms: list[float] = []
        alone_ms: list[float] = []
        for wait in [0.0] * rounds + [0.05 + clients * 20e-6] * rounds:
            loop, last = _round(conns, controls, out, message, wait)
            if wait:
                alone_ms.append(loop)
            else:
                send_ms.append(loop)
                last_ms.append(last)
            if log:
                print(f"  N={clients:,} {'sender alone' if wait else 'readers active'}: "
                      f"send loop {loop:.1f} ms"
                      + ("" if wait else f", last receipt {last:.1f} ms"), flush=True)
        return Floor(clients, statistics.median(send_ms), statistics.median(last_ms),
                     statistics.median(alone_ms))
    finally:
        _stop(controls, conns, listener, readers)


def _round(conns: list[socket.socket], controls: list[Queue[float | None]],
           out: Queue[object], message: bytes, wait: float) -> tuple[float, float]:
    """One fan-out of ``message`` to every socket, the readers told to ``wait`` before
    reading (0: read at once): (send loop ms, last receipt ms after the start)."""
    for control in controls:
        control.put(wait)
    for _ in controls:
        assert out.get(timeout=60) == "ready"
    time.sleep(0.2)  # let the readers settle in select()
    started = time.time_ns()
    for conn in conns:
        conn.send(message)
    ended = time.time_ns()
    done = [cast(tuple[int, int], out.get(timeout=60)) for _ in controls]
    return (ended - started) / 1e6, (max(last for _, last in done) - started) / 1e6


def _stop(controls: list[Queue[float | None]], conns: list[socket.socket],
          listener: socket.socket, readers: Sequence[BaseProcess]) -> None:
    """Tell the readers to stop, close every socket, and reap the reader processes."""
    for control in controls:
        control.put(None)
    for conn in conns:
        conn.close()
    listener.close()
    for proc in readers:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m adstack_bench.floor",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1000,5000", help="comma-separated audiences")
    parser.add_argument("--procs", type=int, default=2, help="reader processes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=700, help="bytes per message")
    args = parser.parse_args(argv)
    for clients in [int(c) for c in args.clients.split(",") if c.strip()]:
        floor = measure(clients, procs=args.procs, rounds=args.rounds, size=args.size,
                        log=True)
        print(f"N={clients:,}: readers active: send loop {floor.send_ms:.1f} ms, last receipt "
              f"{floor.last_ms:.1f} ms; sender alone: {floor.alone_ms:.1f} ms "
              f"({floor.us_per_send:.1f} µs per send)", flush=True)


if __name__ == "__main__":
    main()
