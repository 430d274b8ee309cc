"""Deadlines on request heads and bodies, and a bound on head size: the public names.

The protocol itself is uvicorn's h11 protocol patched in :mod:`adstack_runtime._uvicorn_h11`
(the adapter; what it relies on is listed there). Worker processes of ``--workers N`` load
``adstack_runtime.headtimeout:HeadTimeoutProtocol`` by import string, so the class is
re-exported here under that stable name.
"""

from adstack_runtime._uvicorn_h11 import (
    BODY_TIMEOUT_ENV,
    BODY_TIMEOUT_EXTENSION,
    DEFAULT_BODY_TIMEOUT,
    HEAD_TIMEOUT_ENV,
    MAX_HEAD_BYTES,
    HeadTimeoutProtocol,
    body_timed_out,
    head_timeout_protocol,
)

__all__ = [
    "BODY_TIMEOUT_ENV",
    "BODY_TIMEOUT_EXTENSION",
    "DEFAULT_BODY_TIMEOUT",
    "HEAD_TIMEOUT_ENV",
    "MAX_HEAD_BYTES",
    "HeadTimeoutProtocol",
    "body_timed_out",
    "head_timeout_protocol",
]
