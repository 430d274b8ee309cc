"""Errors of the Redis seam.

BusError
 └── BusUnavailable   Redis could not be reached or answered with an error; retry later.
"""


class BusError(Exception):
    """Root of this package's errors."""


class BusUnavailable(BusError):
    """Redis is unreachable or failed the command. Nothing was partially lost: retry."""
