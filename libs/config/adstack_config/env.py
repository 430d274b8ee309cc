"""Typed reads of environment variables, collecting every error before failing."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TypeVar

from adstack_config.errors import ConfigError

T = TypeVar("T")
_Str = str
_Int = int
_Float = float
_Bool = bool

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Reads typed values from a mapping (``os.environ`` by default).

    Call the getters, then :meth:`check` once: it raises :class:`ConfigError` listing every
    invalid value seen. Getters return the default for a bad value so reading can continue.
    """

    def __init__(self, environ: Mapping[_Str, _Str] | None = None) -> None:
        self.environ: Mapping[_Str, _Str] = os.environ if environ is None else environ
        self._problems: list[_Str] = []

    def _get(self, key: _Str, default: T, cast: Callable[[_Str], T], kind: _Str) -> T:
        raw = self.environ.get(key)
        if raw is None:
            return default
        try:
            return cast(raw.strip())
        except (ValueError, TypeError):
            self._problems.append(f"{key}={raw!r} is not a valid {kind}")
            return default

    def str(self, key: _Str, default: _Str = "") -> _Str:
        return self._get(key, default, lambda s: s, "string")

    def opt_str(self, key: _Str) -> _Str | None:
        raw = self.environ.get(key, "").strip()
        return raw or None

    def int(self, key: _Str, default: _Int, *, minimum: _Int | None = None,
            maximum: _Int | None = None) -> _Int:
        value = self._get(key, default, _Int, "integer")
        if minimum is not None and value < minimum:
            self._problems.append(f"{key}={value} is below the minimum {minimum}")
            return default
        if maximum is not None and value > maximum:
            self._problems.append(f"{key}={value} is above the maximum {maximum}")
            return default
        return value

    def float(self, key: _Str, default: _Float, *, minimum: _Float | None = None) -> _Float:
        value = self._get(key, default, _Float, "number")
        if minimum is not None and value < minimum:
            self._problems.append(f"{key}={value} is below the minimum {minimum}")
            return default
        return value

    def bool(self, key: _Str, default: _Bool = False) -> _Bool:
        def cast(s: _Str) -> _Bool:
            low = s.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(s)

        return self._get(key, default, cast, "boolean (true/false)")

    def list(self, key: _Str, default: tuple[_Str, ...] = ()) -> tuple[_Str, ...]:
        """A comma-separated list; blanks dropped, order kept, duplicates removed."""
        raw = self.environ.get(key)
        if raw is None:
            return default
        items = [part.strip() for part in raw.split(",")]
        return tuple(dict.fromkeys(item for item in items if item))

    def problem(self, message: _Str) -> None:
        """Record a cross-field problem found by the caller."""
        self._problems.append(message)

    def check(self) -> None:
        """Raise :class:`ConfigError` if any getter saw an invalid value."""
        if self._problems:
            raise ConfigError(list(self._problems))
