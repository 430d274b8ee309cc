"""One declaration per setting, and the reader that validates all of them at once.

A :class:`Setting` names an environment variable, its type, default, bounds, one line of
help and the services that read it. :data:`adstack_config.catalog.SETTINGS` lists them all;
from that list come each service's ``from_env`` values (:func:`load`), its ``--help``
(:func:`help_text`), the configuration table of docs/configuration.md and the root ``.env.example``
(:mod:`adstack_config.generate`).

:func:`load` reads every setting of a service, collecting each problem (a bad type, a value
out of bounds, an unknown choice, an unsafe production value) as one line, and raises
:class:`ConfigError` with all of them: the operator fixes everything in one go.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from adstack_config.errors import ConfigError

Kind = Literal["str", "int", "float", "bool", "list", "choice", "secret", "origins"]
Service = Literal["gateway", "ingester"]
SERVICES: tuple[Service, ...] = ("gateway", "ingester")

ENVIRONMENTS = ("development", "test", "production")
"""Accepted ``NODE_ENV`` values; anything else is refused (``prod`` must not silently turn
the production safeguards off)."""

MIN_SECRET_BYTES = 32
"""Shortest HS secret / observer token accepted in production."""

PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "replace-me", "replace_me",
                       "placeholder", "your-secret", "insecure")
"""A secret containing one of these (any case) is a shipped placeholder, refused in
production; deploy/ and docker-compose.yml ship ``CHANGE-ME-…`` and ``change-me-dev-…``."""

INSECURE_OVERRIDE = "ALLOW_INSECURE_CONFIG"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclasses.dataclass(frozen=True)
class Setting:
    """One environment variable: everything the code, ``--help`` and the docs say of it."""

    name: str
    """The environment variable."""
    kind: Kind
    default: Any
    """The value when unset (``None``: unset, or computed by the service — see
    ``default_text``)."""
    help: str
    """One line: what it does (``--help``, docs/configuration.md, ``.env.example``)."""
    services: tuple[Service, ...] = SERVICES
    field: str | None = None
    """The settings attribute it fills (``jwt.secret``: attribute ``secret`` of the nested
    ``jwt`` group); ``None``: read by the service's own code (e.g. merged into another)."""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    """For ``choice``: accepted values (compared case-insensitively, stored lower-case
    unless ``upper``)."""
    upper: bool = False
    aliases: tuple[str, ...] = ()
    """Older names read when ``name`` is unset (the first set one wins)."""
    default_text: str | None = None
    """How the default reads in the docs when it is not a constant."""
    example: str | None = None
    """A value shown (commented out) in ``.env.example`` instead of the default."""
    group: str = "general"
    """The heading it is listed under in ``.env.example``."""

    def documented_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        return format_value(self.default)


def format_value(value: Any) -> str:
    """A value as it is written in the environment."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclasses.dataclass
class Loaded:
    """What :func:`load` read: values by variable name, the environment it read them from,
    and warnings to log once logging is set up (an :data:`INSECURE_OVERRIDE` in use)."""

    values: dict[str, Any]
    environ: dict[str, str]
    settings: tuple[Setting, ...]
    problems: list[str]
    warnings: list[str]
    invalid: set[str] = dataclasses.field(default_factory=set)
    """Settings already reported as invalid (their value is the default meanwhile)."""

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def is_set(self, name: str) -> bool:
        return _raw(self.environ, self._setting(name)) is not None

    def _setting(self, name: str) -> Setting:
        for setting in self.settings:
            if setting.name == name:
                return setting
        raise KeyError(name)

    def problem(self, message: str) -> None:
        """Record a cross-setting problem found by the service."""
        self.problems.append(message)

    def convert(self, name: str, convert: Callable[[Any], Any]) -> Any:
        """``convert(value)`` of setting ``name``; a ``ValueError`` becomes a problem (and the
        value is kept as it is)."""
        value = self.values[name]
        try:
            self.values[name] = convert(value)
        except ValueError as exc:
            self.problem(f"{_key(self.environ, self._setting(name))}={value!r}: {exc}")
        return self.values[name]

    def fields(self) -> dict[str, Any]:
        """Values by settings attribute; dotted attributes grouped (``{"jwt": {...}}``)."""
        out: dict[str, Any] = {}
        for setting in self.settings:
            if setting.field is None:
                continue
            value = self.values[setting.name]
            group, _, attr = setting.field.rpartition(".")
            (out.setdefault(group, {}) if group else out)[attr] = value
        return out

    def check(self) -> None:
        if self.problems:
            raise ConfigError(list(self.problems))


def for_service(settings: Iterable[Setting], service: Service) -> tuple[Setting, ...]:
    return tuple(s for s in settings if service in s.services)


def default_of(settings: Iterable[Setting], name: str) -> Any:
    """The declared default of ``name`` (for a settings struct's field default)."""
    for setting in settings:
        if setting.name == name:
            return setting.default
    raise KeyError(name)


def read_env_file(path: str) -> tuple[dict[str, str], str | None]:
    """``KEY=VALUE`` lines of ``path`` (``#`` comments, ``export``, quotes); or a problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return {}, f"ENV_FILE={path!r} cannot be read ({reason})"
    out: dict[str, str] = {}
    for number, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            return {}, f"ENV_FILE={path!r} line {number} is not KEY=VALUE"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out, None


def export_env_file(environ: MutableMapping[str, str]) -> None:
    """Copy the ``ENV_FILE`` values that ``environ`` lacks into it (the real environment
    wins), so that what reads the process environment itself (uvicorn's
    ``FORWARDED_ALLOW_IPS``, the metrics directory, ``--workers`` processes) sees them too.
    A file that cannot be read is left to :func:`load` to report."""
    path = (environ.get("ENV_FILE") or "").strip()
    if path:
        values, problem = read_env_file(path)
        if problem is None:
            for key, value in values.items():
                environ.setdefault(key, value)


def load(settings: Iterable[Setting], service: Service,
         environ: Mapping[str, str]) -> Loaded:
    """Read and validate every setting of ``service`` from ``environ``.

    ``ENV_FILE`` (if set in ``environ``) names a ``.env`` file whose values apply where
    ``environ`` has none: the real environment wins. Never raises for a bad value: the
    problems are collected; call :meth:`Loaded.check` after the service's own checks.
    """
    mine = for_service(settings, service)
    env = dict(environ)
    problems: list[str] = []
    env_file = (env.get("ENV_FILE") or "").strip()
    if env_file:
        from_file, problem = read_env_file(env_file)
        if problem:
            problems.append(problem)
        env = {**from_file, **env}
    values: dict[str, Any] = {}
    invalid: set[str] = set()
    for setting in mine:
        before = len(problems)
        values[setting.name] = _read(setting, env, problems)
        if len(problems) > before:
            invalid.add(setting.name)  # reported once, not again as its fallback default
    loaded = Loaded(values, env, mine, problems, [], invalid)
    _production_rules(loaded)
    return loaded


def _raw(environ: Mapping[str, str], setting: Setting) -> str | None:
    for key in (setting.name, *setting.aliases):
        if key in environ:
            return environ[key]
    return None


def _key(environ: Mapping[str, str], setting: Setting) -> str:
    for key in (setting.name, *setting.aliases):
        if key in environ:
            return key
    return setting.name


def _read(setting: Setting, environ: Mapping[str, str], problems: list[str]) -> Any:
    raw = _raw(environ, setting)
    if raw is None:
        return setting.default
    key = _key(environ, setting)
    text = raw.strip()
    shown = text if setting.kind != "secret" else "<secret>"
    try:
        value = _cast(setting, text)
    except ValueError as exc:
        problems.append(f"{key}={shown!r}: {exc}")
        return setting.default
    if isinstance(value, int | float) and not isinstance(value, bool):
        if setting.minimum is not None and value < setting.minimum:
            problems.append(f"{key}={text}: below the minimum {format_value(setting.minimum)}")
            return setting.default
        if setting.maximum is not None and value > setting.maximum:
            problems.append(f"{key}={text}: above the maximum {format_value(setting.maximum)}")
            return setting.default
    return value


def _cast_str(setting: Setting, text: str) -> Any:
    return text or (None if setting.default is None else text)


def _cast_int(setting: Setting, text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        raise ValueError("not a whole number") from None


def _cast_float(setting: Setting, text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        raise ValueError("not a number") from None


def _cast_bool(setting: Setting, text: str) -> Any:
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("not a boolean (true or false)")


def _cast_choice(setting: Setting, text: str) -> Any:
    low = text.lower()
    if low not in setting.choices:
        raise ValueError(f"choose one of {', '.join(setting.choices)}")
    return low.upper() if setting.upper else low


def _cast_list(setting: Setting, text: str) -> Any:
    items = [p.strip() for p in text.split(",") if p.strip()]
    if setting.choices:
        items = [item.lower() for item in items]
        bad = [item for item in items if item not in setting.choices]
        if bad:
            raise ValueError(f"unknown {', '.join(repr(b) for b in bad)} "
                             f"(choose from {', '.join(setting.choices)})")
    return tuple(dict.fromkeys(items))


def _cast_origins(setting: Setting, text: str) -> Any:
    origins = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    bad = [o for o in origins if o != "*" and not origin_ok(o)]
    if bad:
        raise ValueError(
            f"{', '.join(repr(o) for o in bad)} is not an origin: write "
            "scheme://host[:port], e.g. https://app.example.com (a browser's Origin "
            "header always has the scheme, so this could never match)")
    return origins


_CASTS: dict[str, Callable[[Setting, str], Any]] = {
    "str": _cast_str, "secret": _cast_str, "int": _cast_int, "float": _cast_float,
    "bool": _cast_bool, "choice": _cast_choice, "list": _cast_list, "origins": _cast_origins,
}
"""One parser per :data:`Kind`: the text of an environment variable to its value."""


def _cast(setting: Setting, text: str) -> Any:
    cast = _CASTS.get(setting.kind)
    if cast is None:
        raise AssertionError(setting.kind)  # pragma: no cover
    return cast(setting, text)


def origin_ok(origin: str) -> bool:
    """``scheme://host[:port]`` (a trailing ``/`` tolerated), as browsers send ``Origin``."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname)
            and parts.path in ("", "/") and not parts.query and not parts.fragment
            and parts.username is None)


def placeholder(value: str) -> bool:
    low = value.lower()
    return any(marker in low for marker in PLACEHOLDER_MARKERS)


def _production_rules(loaded: Loaded) -> None:
    """Refuse what is unsafe in production (weak or placeholder secrets, ``*`` origins),
    or with :data:`INSECURE_OVERRIDE` turn each refusal into a warning."""
    if loaded.values.get("NODE_ENV") != "production":
        return
    unsafe: list[str] = []
    for setting in loaded.settings:
        if setting.name in loaded.invalid:
            continue
        value = loaded.values[setting.name]
        if setting.kind == "secret" and value:
            key = _key(loaded.environ, setting)
            if placeholder(value):
                unsafe.append(f"{key} is a placeholder from the examples; set a random "
                              f"value of at least {MIN_SECRET_BYTES} bytes "
                              "(e.g. openssl rand -hex 32)")
            elif (setting.minimum is not None
                  and len(value.encode()) < setting.minimum):
                unsafe.append(f"{key} is {len(value.encode())} bytes; production needs at "
                              f"least {format_value(setting.minimum)} "
                              "(e.g. openssl rand -hex 32)")
        if setting.kind == "origins" and "*" in (value or ()):
            unsafe.append(f"{setting.name}=* in production: any web page could use the token "
                          "a browser holds; list your frontends' origins "
                          "(https://app.example.com,…)")
    if not unsafe:
        return
    if loaded.values.get(INSECURE_OVERRIDE):
        loaded.warnings.extend(f"{INSECURE_OVERRIDE}=true: accepting unsafe production "
                               f"configuration: {line}" for line in unsafe)
    else:
        loaded.problems.extend(
            f"{line} [NODE_ENV=production; {INSECURE_OVERRIDE}=true accepts it with a warning]"
            for line in unsafe)


def help_text(settings: Iterable[Setting], service: Service, width: int = 100) -> str:
    """The ``environment:`` epilog of a service's ``--help``."""
    lines = ["environment (ENV_FILE=path also reads a .env file; the real environment wins):"]
    mine = for_service(settings, service)
    column = 2 + max(len(s.name) for s in mine) + 2
    for setting in mine:
        default = setting.documented_default()
        text = f"{setting.help} (default {default})" if default else setting.help
        names = ", ".join((setting.name, *setting.aliases))
        wrapped = textwrap.wrap(text, width - column) or [""]
        if 2 + len(names) + 2 > column:
            lines.append(f"  {names}")
        else:
            lines.append(f"  {names:{column - 2}}{wrapped.pop(0)}")
        lines.extend(" " * column + rest for rest in wrapped)
    return "\n".join(lines) + "\n"
