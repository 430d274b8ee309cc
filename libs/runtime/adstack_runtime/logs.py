"""Logging: JSON lines in production, readable lines in development.

Both formats carry the ids bound with :func:`adstack_runtime.bind_log_context`
(``conn``, ``block``, …): JSON lines as fields, readable lines as ``key=value`` at the end.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any
from urllib.parse import unquote_plus

from adstack_runtime.context import LogContextFilter

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


_QUERY_PAIR = re.compile(r"([?&;])([^=&;?\s\"'#]*)=([^&;\s\"'#]*)")
"""One ``name=value`` of a query string: after ``?``, ``&`` or ``;``."""
_SECRET_NAMES = frozenset({"token", "access_token", "api_key", "apikey", "password",
                           "jwt", "auth", "authorization"})


def _is_secret_name(raw: str) -> bool:
    """The name as a server decodes it (``%74oken``, ``TOKEN``, ``to+ken``…), one or more
    percent-decodings deep, compared without case."""
    name = raw
    for _ in range(3):
        decoded = unquote_plus(name)
        if decoded.strip().lower() in _SECRET_NAMES:
            return True
        if decoded == name:
            return False
        name = decoded
    return False


def mask_query_secrets(text: str) -> str:
    """``text`` with the value of every credential query parameter replaced by ``***``,
    however its name is spelled or encoded, as often as it is repeated."""
    if "=" not in text:
        return text
    return _QUERY_PAIR.sub(
        lambda m: f"{m[1]}{m[2]}=***" if _is_secret_name(m[2]) else m[0], text)


class QuerySecretFilter(logging.Filter):
    """Masks credentials in URL query strings (``?token=<jwt>`` → ``?token=***``).

    uvicorn logs every WebSocket handshake with its path and query string, and a browser
    can only pass its token there (it cannot set headers on a WebSocket), so without this
    every client's JWT ended up in the gateway's INFO log. The name is matched as the
    server decodes it: ``?%74oken=`` authenticates like ``?token=`` and is masked like it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "=" in message:
            masked = mask_query_secrets(message)
            if masked != message:
                record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with any ``extra={...}`` fields included."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class ReadableFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL service logger: message key=value…`` (context ids appended)."""

    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)-5s {service} %(name)s: %(message)s",
                         "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        keys: tuple[str, ...] = getattr(record, "_context_keys", ())
        if keys:
            line += " " + " ".join(f"{k}={getattr(record, k)}" for k in keys)
        return line


def setup_logging(service: str, *, level: str = "INFO", json_lines: bool = False) -> None:
    """Configure the root logger once for a service process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if json_lines else ReadableFormatter(service))
    handler.addFilter(LogContextFilter())
    handler.addFilter(QuerySecretFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
