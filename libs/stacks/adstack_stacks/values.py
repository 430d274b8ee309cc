"""Immutable Clarity value classes.

Every class uses ``__slots__``, compares by value (and by exact class: ``Int(1) != UInt(1)``),
is hashable, and refuses attribute assignment. Constructors do not range-check; :func:`encode`
validates (so out-of-range values fail there, not here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn, TypeAlias, cast

from adstack_stacks.c32 import c32_address, c32_address_decode
from adstack_stacks.errors import C32Error

__all__ = [
    "Bool",
    "Buffer",
    "ClarityValue",
    "ContractPrincipal",
    "Int",
    "List",
    "OptionalNone",
    "OptionalSome",
    "ResponseErr",
    "ResponseOk",
    "StandardPrincipal",
    "StringAscii",
    "StringUtf8",
    "Tuple",
    "UInt",
]

_Setter: TypeAlias = Callable[[object, object], None]


def _setter(cls: type, name: str) -> _Setter:
    """The raw slot setter of ``cls.name`` (bypasses the class's refusing ``__setattr__``)."""
    return cast(_Setter, cls.__dict__[name].__set__)


class _Frozen:
    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")


class _Scalar(_Frozen):
    """Shared behaviour of the one-field classes (equality, hash, repr, pickling)."""

    __slots__ = ()
    value: Any

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (type(self), (self.value,))


class Int(_Scalar):
    """``int``: signed 128-bit integer."""

    __slots__ = ("value",)
    value: int

    def __init__(self, value: int) -> None:
        _set_int(self, value)


class UInt(_Scalar):
    """``uint``: unsigned 128-bit integer."""

    __slots__ = ("value",)
    value: int

    def __init__(self, value: int) -> None:
        _set_uint(self, value)


class Bool(_Scalar):
    """``true`` / ``false``."""

    __slots__ = ("value",)
    value: bool

    def __init__(self, value: bool) -> None:
        _set_bool(self, bool(value))


class Buffer(_Scalar):
    """``(buff n)``: raw bytes."""

    __slots__ = ("value",)
    value: bytes

    def __init__(self, value: bytes) -> None:
        _set_buffer(self, value if type(value) is bytes else bytes(value))


class StringAscii(_Scalar):
    """``(string-ascii n)``."""

    __slots__ = ("value",)
    value: str

    def __init__(self, value: str) -> None:
        _set_ascii(self, value)


class StringUtf8(_Scalar):
    """``(string-utf8 n)``."""

    __slots__ = ("value",)
    value: str

    def __init__(self, value: str) -> None:
        _set_utf8(self, value)


class StandardPrincipal(_Frozen):
    """A standard principal (an account address)."""

    __slots__ = ("hash160", "version")
    version: int
    hash160: bytes

    def __init__(self, version: int, hash160: bytes) -> None:
        _set_sp_version(self, version)
        _set_sp_hash(self, hash160 if type(hash160) is bytes else bytes(hash160))

    @property
    def address(self) -> str:
        """The c32check address, e.g. ``SP3K8BC0PPEVCV7NZ6QSRWPQ2JE9E5B6N3PA0KBR9`` (cached)."""
        return c32_address(self.version, self.hash160)

    @classmethod
    def from_address(cls, address: str) -> StandardPrincipal:
        """Parse ``SP…`` (a leading apostrophe is tolerated). Raises :class:`C32Error`."""
        if isinstance(address, str) and address.startswith("'"):
            address = address[1:]
        version, hash160 = c32_address_decode(address)
        return cls(version, hash160)

    def __eq__(self, other: object) -> bool:
        if type(other) is not StandardPrincipal:
            return NotImplemented
        return self.version == other.version and self.hash160 == other.hash160

    def __hash__(self) -> int:
        return hash(("StandardPrincipal", self.version, self.hash160))

    def __repr__(self) -> str:
        return f"StandardPrincipal({self.version!r}, {self.hash160!r})"

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (StandardPrincipal, (self.version, self.hash160))


class ContractPrincipal(_Frozen):
    """A contract principal: issuer (version + hash160) and contract name."""

    __slots__ = ("hash160", "name", "version")
    version: int
    hash160: bytes
    name: str

    def __init__(self, version: int, hash160: bytes, name: str) -> None:
        _set_cp_version(self, version)
        _set_cp_hash(self, hash160 if type(hash160) is bytes else bytes(hash160))
        _set_cp_name(self, name)

    @property
    def address(self) -> str:
        """The issuer's c32check address (cached)."""
        return c32_address(self.version, self.hash160)

    @property
    def contract_id(self) -> str:
        """``"<issuer address>.<name>"``."""
        return f"{c32_address(self.version, self.hash160)}.{self.name}"

    @property
    def issuer(self) -> StandardPrincipal:
        return StandardPrincipal(self.version, self.hash160)

    @classmethod
    def from_contract_id(cls, contract_id: str) -> ContractPrincipal:
        """Parse ``SP….name`` (a leading apostrophe is tolerated). Raises :class:`C32Error`.

        The name is only checked for being non-empty; :func:`encode` validates it fully.
        """
        if not isinstance(contract_id, str):
            raise C32Error(f"contract id must be a str, not {type(contract_id).__name__}")
        text = contract_id[1:] if contract_id.startswith("'") else contract_id
        address, dot, name = text.partition(".")
        if not dot or not name:
            raise C32Error(f"not a contract id (expected '<address>.<name>'): {contract_id!r}")
        version, hash160 = c32_address_decode(address)
        return cls(version, hash160, name)

    def __eq__(self, other: object) -> bool:
        if type(other) is not ContractPrincipal:
            return NotImplemented
        return (
            self.version == other.version
            and self.hash160 == other.hash160
            and self.name == other.name
        )

    def __hash__(self) -> int:
        return hash(("ContractPrincipal", self.version, self.hash160, self.name))

    def __repr__(self) -> str:
        return f"ContractPrincipal({self.version!r}, {self.hash160!r}, {self.name!r})"

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (ContractPrincipal, (self.version, self.hash160, self.name))


class ResponseOk(_Scalar):
    """``(ok v)``."""

    __slots__ = ("value",)
    value: ClarityValue

    def __init__(self, value: ClarityValue) -> None:
        _set_ok(self, value)


class ResponseErr(_Scalar):
    """``(err v)``."""

    __slots__ = ("value",)
    value: ClarityValue

    def __init__(self, value: ClarityValue) -> None:
        _set_err(self, value)


class OptionalSome(_Scalar):
    """``(some v)``."""

    __slots__ = ("value",)
    value: ClarityValue

    def __init__(self, value: ClarityValue) -> None:
        _set_some(self, value)


class OptionalNone(_Frozen):
    """``none``."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not OptionalNone:
            return NotImplemented
        return True

    def __hash__(self) -> int:
        return hash("OptionalNone")

    def __repr__(self) -> str:
        return "OptionalNone()"

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (OptionalNone, ())


class List(_Frozen):
    """``(list …)``: an immutable tuple of values."""

    __slots__ = ("items",)
    items: tuple[ClarityValue, ...]

    def __init__(self, items: Iterable[ClarityValue] = ()) -> None:
        _set_items(self, tuple(items))

    def __eq__(self, other: object) -> bool:
        if type(other) is not List:
            return NotImplemented
        return self.items == other.items

    def __hash__(self) -> int:
        return hash(("List", self.items))

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"List({self.items!r})"

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (List, (self.items,))


class Tuple(_Frozen):
    """``(tuple (k v) …)``.

    ``fields`` keeps insertion (for decoded values: wire) order; equality ignores order, as
    in Clarity. Treat ``fields`` as read-only. :func:`encode` writes fields sorted by name.
    """

    __slots__ = ("fields",)
    fields: dict[str, ClarityValue]

    def __init__(self, fields: Mapping[str, ClarityValue] | None = None) -> None:
        _set_fields(self, dict(fields) if fields is not None else {})

    def __eq__(self, other: object) -> bool:
        if type(other) is not Tuple:
            return NotImplemented
        return self.fields == other.fields

    def __hash__(self) -> int:
        return hash(("Tuple", frozenset(self.fields.items())))

    def __getitem__(self, name: str) -> ClarityValue:
        return self.fields[name]

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return f"Tuple({self.fields!r})"

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (Tuple, (self.fields,))


ClarityValue: TypeAlias = (
    Int
    | UInt
    | Bool
    | Buffer
    | StringAscii
    | StringUtf8
    | StandardPrincipal
    | ContractPrincipal
    | ResponseOk
    | ResponseErr
    | OptionalNone
    | OptionalSome
    | List
    | Tuple
)

_set_int = _setter(Int, "value")
_set_uint = _setter(UInt, "value")
_set_bool = _setter(Bool, "value")
_set_buffer = _setter(Buffer, "value")
_set_ascii = _setter(StringAscii, "value")
_set_utf8 = _setter(StringUtf8, "value")
_set_sp_version = _setter(StandardPrincipal, "version")
_set_sp_hash = _setter(StandardPrincipal, "hash160")
_set_cp_version = _setter(ContractPrincipal, "version")
_set_cp_hash = _setter(ContractPrincipal, "hash160")
_set_cp_name = _setter(ContractPrincipal, "name")
_set_ok = _setter(ResponseOk, "value")
_set_err = _setter(ResponseErr, "value")
_set_some = _setter(OptionalSome, "value")
_set_items = _setter(List, "items")
_set_fields = _setter(Tuple, "fields")

_new = object.__new__


def _tuple_from_dict(fields: dict[str, ClarityValue]) -> Tuple:
    """Build a :class:`Tuple` that owns ``fields`` without copying it (decoder fast path)."""
    obj: Tuple = _new(Tuple)
    _set_fields(obj, fields)
    return obj


def _list_from_tuple(items: tuple[ClarityValue, ...]) -> List:
    obj: List = _new(List)
    _set_items(obj, items)
    return obj
