"""Adapter for uvicorn's multiprocess supervisor: N workers on one socket, and a callback
whenever the set of worker processes changes.

Relies on (uvicorn ``supervisors.Multiprocess``, checked with uvicorn 0.54.0 from uv.lock and
0.55.0 by ``make test-latest``; fence ``uvicorn>=0.35,<0.55``):

- ``Multiprocess(config, sockets=...)`` and its ``run()``;
- its ``processes`` list, each item with a ``pid`` (``supervisors.multiprocess.Process``);
- the three places where that list changes, overridden to call the originals and then
  compare: ``init_processes`` (start), ``keep_subprocess_alive`` (a dead worker replaced)
  and ``handle_signals`` (SIGHUP restarts, SIGTTIN / SIGTTOU add or remove one).

:func:`require_shape` checks these names at import. The guard tests are
tests/e2e/test_workers.py, tests/integration/test_metrics_multiprocess.py and
tests/unit/test_third_party_internals.py. Why: the multiprocess metrics directory keeps one
file set per worker pid; the gateway and ingester sweep a dead worker's files when it is
replaced, or its gauges would be summed forever. uvicorn has no public hook for that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from adstack_runtime.internals import require_shape

log = logging.getLogger(__name__)

FENCE = "uvicorn>=0.35,<0.55"
"""The dependency line of pyproject.toml that keeps other uvicorn releases out."""

SHAPES = (
    require_shape(Multiprocess, fence=FENCE,
                  methods=("run", "init_processes", "handle_signals", "keep_subprocess_alive"),
                  attributes=("processes",), parameters={"__init__": ("config", "sockets")}),
    require_shape(Process, fence=FENCE, attributes=("pid",)),
)
"""What this adapter relies on, checked at import (re-checked by the guard tests)."""

WorkersChanged = Callable[[set[int]], None]
"""Called in the supervisor with the pids of the workers now running (empty at the end)."""


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, telling ``on_change`` whenever the set of workers changes
    (a worker died and was replaced, or SIGHUP / SIGTTIN / SIGTTOU changed them)."""

    def __init__(self, config: uvicorn.Config, sockets: list[Any],
                 on_change: WorkersChanged | None) -> None:
        super().__init__(config, sockets=sockets)
        self.on_change = on_change
        self._known: set[int] = set()

    def pids(self) -> set[int]:
        return {p.pid for p in self.processes if p.pid is not None}

    def _report(self) -> None:
        pids = self.pids()
        if pids != self._known:
            self._known = pids
            if self.on_change is not None:
                try:
                    self.on_change(pids)
                except Exception:
                    log.exception("worker change handler failed")

    def init_processes(self) -> None:
        super().init_processes()
        self._report()

    def handle_signals(self) -> None:
        super().handle_signals()
        self._report()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        self._report()

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._known = set()
            if self.on_change is not None:
                self.on_change(set())


def supervise(config: uvicorn.Config, sockets: list[Any],
              on_change: WorkersChanged | None = None) -> None:
    """Run ``config.workers`` worker processes on ``sockets`` until SIGINT/SIGTERM. Blocks.

    A worker that dies is replaced; ``on_change`` gets the set of worker pids each time it
    changes, and an empty set once every worker has exited.
    """
    _Supervisor(config, sockets, on_change).run()
