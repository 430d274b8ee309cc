"""Ids that follow a unit of work (a connection, a block) through its log lines.

``bind_log_context(conn="…")`` stores fields in a :class:`contextvars.ContextVar`; the
:class:`LogContextFilter` installed by :func:`adstack_runtime.setup_logging` copies them
onto every record logged in that context, so JSON lines carry ``"conn": "…"`` and readable
lines end with ``conn=…``. Tasks started afterwards (``asyncio.create_task``) inherit the
fields, so a connection's writer task logs with its connection id too.

Each uvicorn request and WebSocket connection runs in its own task, so fields bound while
handling one never leak into another.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})
_fields: ContextVar[Mapping[str, str]] = ContextVar("adstack_log_fields", default=_EMPTY)


def log_fields() -> Mapping[str, str]:
    """The fields bound in the current context."""
    return _fields.get()


def bind_log_context(**fields: object) -> Token[Mapping[str, str]]:
    """Add ``fields`` for the rest of the current task (and tasks it starts).

    Returns a token for :func:`reset_log_context` when the binding must end earlier.
    """
    merged = {**_fields.get(), **{k: str(v) for k, v in fields.items()}}
    return _fields.set(MappingProxyType(merged))


def reset_log_context(token: Token[Mapping[str, str]]) -> None:
    _fields.reset(token)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """``fields`` on every log line inside the ``with`` block."""
    token = bind_log_context(**fields)
    try:
        yield
    finally:
        _fields.reset(token)


class LogContextFilter(logging.Filter):
    """Copies the bound fields onto each record (explicit ``extra=`` values win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _fields.get()
        if fields:
            for key, value in fields.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
            record._context_keys = tuple(fields)
        return True
