"""Shape checks for the adapters that reach into other projects' private code.

Each adapter (``_uvicorn_*``, ``_engineio``, ``_prometheus``; the table in
docs/third-party-internals.md) calls :func:`require_shape` once at import for every class it
subclasses or reads: a release that renamed a method or an attribute it relies on then
fails at import, with an error that names the fence in ``pyproject.toml``, instead of
misbehaving under load.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
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


def require_shape(owner: type, *, fence: str, methods: Iterable[str] = (),
                  attributes: Iterable[str] = (),
                  parameters: dict[str, Iterable[str]] | None = None) -> None:
    """Fail with :class:`InternalsChanged` unless ``owner`` still has what we rely on.

    ``methods``: callables on the class; ``attributes``: names its code still uses (see
    :func:`attribute_names`); ``parameters``: method → keyword parameters it must accept.
    ``fence`` is the dependency line of ``pyproject.toml`` that should have kept the
    release out (quoted in the error).
    """
    missing = [f"{name}()" for name in methods if not callable(getattr(owner, name, None))]
    wanted = list(attributes)
    if wanted:
        used = attribute_names(owner)
        missing += [name for name in wanted if name not in used]
    for method, names in (parameters or {}).items():
        function = getattr(owner, method, None)
        accepted = inspect.signature(function).parameters if callable(function) else {}
        missing += [f"{method}({name}=)" for name in names if name not in accepted]
    if missing:
        where = f"{owner.__module__}.{owner.__qualname__}"
        raise InternalsChanged(
            f"{where} no longer has {', '.join(missing)}: this release is outside the fence "
            f"{fence!r} in pyproject.toml (see docs/third-party-internals.md)")
