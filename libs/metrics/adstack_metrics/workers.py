"""Multiprocess metrics for ``--workers N``: the shared directory and dead workers' files.

prometheus-client's multiprocess mode keeps every worker's samples in files under
``PROMETHEUS_MULTIPROC_DIR``; any worker's ``/metrics`` aggregates them. The supervisor
(the parent process) prepares the directory before it starts the workers, and removes the
live-gauge files of workers that exited (``mark_process_dead``) so a dead worker's
connections stop counting. Counters and histograms of dead workers are kept: their totals
stay monotonic.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, MutableMapping
from pathlib import Path

from prometheus_client import multiprocess

ENV = "PROMETHEUS_MULTIPROC_DIR"

_LIVE_GAUGE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def prepare_multiprocess_dir(environ: MutableMapping[str, str]) -> tuple[Path, bool]:
    """Make ``environ[PROMETHEUS_MULTIPROC_DIR]`` an empty directory; create one if unset.

    Files left by an earlier run are deleted (their pids may be reused, and their counters
    would be added to this run's). Returns (directory, created): ``created`` is True when
    a temporary directory was made, which the caller removes at exit.
    """
    configured = environ.get(ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
        return directory, False
    directory = Path(tempfile.mkdtemp(prefix="adstack-metrics-"))
    environ[ENV] = str(directory)
    return directory, True


def live_gauge_pids(directory: Path) -> set[int]:
    """Pids that have live-gauge files (``livesum``, ``livemax``, …) in ``directory``."""
    pids: set[int] = set()
    for path in directory.glob("gauge_live*.db"):
        match = _LIVE_GAUGE.match(path.name)
        if match:
            pids.add(int(match.group(1)))
    return pids


def sweep_dead_workers(directory: Path, live: Iterable[int]) -> list[int]:
    """``mark_process_dead`` for every pid with live-gauge files that is not in ``live``.

    Returns the pids swept, in ascending order.
    """
    alive = set(live)
    dead = sorted(live_gauge_pids(directory) - alive)
    for pid in dead:
        multiprocess.mark_process_dead(pid, os.fspath(directory))  # type: ignore[no-untyped-call]
    return dead
