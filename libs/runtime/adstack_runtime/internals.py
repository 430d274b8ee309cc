"""Shape checks for the adapters that reach into other projects' private code.

Each adapter (``_uvicorn_*``, ``_engineio``, ``_prometheus``; the table in
docs/third-party-internals.md) calls :func:`require_shape` once at import for every class it
subclasses or reads: a release that renamed a method or an attribute it relies on then
fails at import, with an error that names the fence in ``pyproject.toml``, instead of
misbehaving under load.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import CodeType, FunctionType


class InternalsChanged(ImportError):
    """A third-party class no longer has the shape one of our adapters relies on."""


def _codes(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _codes(const)


def attribute_names(owner: type) -> frozenset[str]:
    """Every attribute name the methods of ``owner`` (and its bases) read or assign.

    Class attributes and properties count too. An instance attribute set in ``__init__``
    (``self.queue = …``) exists on no class, but its name is in the byte code of the methods
    that use it; a renamed one disappears.
    """
    names: set[str] = set()
    for klass in owner.__mro__:
        if klass is object:
            continue
        names.update(vars(klass))
        for value in vars(klass).values():
            function = value.__func__ if isinstance(value, classmethod | staticmethod) else value
            function = function.fget if isinstance(function, property) else function
            if isinstance(function, FunctionType):
                for code in _codes(function.__code__):
                    names.update(code.co_names)
    return frozenset(names)


@dataclass(frozen=True)
class Shape:
    """What an adapter relies on in one third-party class (see :func:`require_shape`)."""

    owner: type
    fence: str
    methods: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    parameters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def missing(self, owner: type | None = None) -> list[str]:
        """What ``owner`` (default: the class itself) lacks of this shape."""
        owner = self.owner if owner is None else owner
        missing = [f"{name}()" for name in self.methods
                   if not callable(getattr(owner, name, None))]
        if self.attributes:
            used = attribute_names(owner)
            missing += [name for name in self.attributes if name not in used]
        for method, names in self.parameters.items():
            function = getattr(owner, method, None)
            accepted = inspect.signature(function).parameters if callable(function) else {}
            missing += [f"{method}({name}=)" for name in names if name not in accepted]
        return missing

    def check(self, owner: type | None = None) -> None:
        """Fail with :class:`InternalsChanged` unless ``owner`` has the whole shape."""
        missing = self.missing(owner)
        if missing:
            where = owner or self.owner
            raise InternalsChanged(
                f"{where.__module__}.{where.__qualname__} no longer has "
                f"{', '.join(missing)}: this release is outside the fence {self.fence!r} "
                "in pyproject.toml (see docs/third-party-internals.md)")


def require_shape(owner: type, *, fence: str, methods: Iterable[str] = (),
                  attributes: Iterable[str] = (),
                  parameters: Mapping[str, Iterable[str]] | None = None) -> Shape:
    """Fail with :class:`InternalsChanged` unless ``owner`` still has what we rely on;
    return the :class:`Shape` checked (the guard tests re-check it).

    ``methods``: callables on the class; ``attributes``: names its code still uses (see
    :func:`attribute_names`); ``parameters``: method → keyword parameters it must accept.
    ``fence`` is the dependency line of ``pyproject.toml`` that should have kept the
    release out (quoted in the error).
    """
    shape = Shape(owner, fence, tuple(methods), tuple(attributes),
                  {method: tuple(names) for method, names in (parameters or {}).items()})
    shape.check()
    return shape
