"""Process plumbing shared by the services: logging setup, log context, running an ASGI app."""

from adstack_runtime.context import (
    LogContextFilter,
    bind_log_context,
    log_context,
    log_fields,
    reset_log_context,
)
from adstack_runtime.headtimeout import body_timed_out
from adstack_runtime.logs import (
    JsonFormatter,
    QuerySecretFilter,
    ReadableFormatter,
    setup_logging,
)
from adstack_runtime.serve import serve_app, serve_workers

__all__ = [
    "JsonFormatter",
    "LogContextFilter",
    "QuerySecretFilter",
    "ReadableFormatter",
    "bind_log_context",
    "body_timed_out",
    "log_context",
    "log_fields",
    "reset_log_context",
    "serve_app",
    "serve_workers",
    "setup_logging",
]
