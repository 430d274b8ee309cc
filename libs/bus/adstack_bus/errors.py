"""Errors of the Redis seam.

BusError
 └── BusUnavailable   Redis could not be reached or answered with an error; retry later.
      └── NotLeader   the writer's fencing token is stale: another ingester leads now.
"""


class BusError(Exception):
    """Root of this package's errors."""


class BusUnavailable(BusError):
    """Redis is unreachable or failed the command. Nothing was partially lost: retry."""


class NotLeader(BusUnavailable):
    """A write was refused because the caller's fencing token is not the current one.

    The caller lost (or never held) the leader lease; nothing was written by that call.
    """
