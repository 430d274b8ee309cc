"""Contract identifiers and event-type names (pure, syntactic checks)."""

from __future__ import annotations

import re

# A contract principal: a c32check address ("S" + version char + 26..40 c32 chars)
# and a contract name (a letter, then letters, digits, "-" or "_"; at most 128 bytes).
CONTRACT_ID_RE = re.compile(
    r"^S[0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z]{26,40}\.[a-zA-Z][a-zA-Z0-9_-]{0,127}$"
)
_EVENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")


def is_valid_contract_id(value: object) -> bool:
    """True if ``value`` looks like ``SP….name`` (the checksum is checked elsewhere)."""
    # fullmatch: ``$`` alone also matches before a trailing newline ("SP….name\n").
    return isinstance(value, str) and CONTRACT_ID_RE.fullmatch(value) is not None


def is_valid_event_type(value: object) -> bool:
    """True for a normalised event type such as ``campaign_created``."""
    return isinstance(value, str) and _EVENT_TYPE_RE.fullmatch(value) is not None


def event_type_from_print(data: object) -> str:
    """The event type of a decoded print value.

    The type is the print tuple's ``event`` field with ``-`` turned into ``_``
    (``"campaign-created"`` → ``campaign_created``); ``print`` when there is no such
    string field or it does not normalise to a valid name. The original server took the
    type from the print *topic*, which is always ``print``; that was wrong.
    """
    if isinstance(data, dict):
        raw = data.get("event")
        if isinstance(raw, str):
            name = _type_names.get(raw)
            if name is None:
                name = _normalise_type(raw)
                if len(_type_names) < _TYPE_NAMES_MAX:
                    _type_names[raw] = name
            return name
    return "print"


_type_names: dict[str, str] = {}
"""``event`` field → type, for the few names a deployment's contracts use."""
_TYPE_NAMES_MAX = 4096


def _normalise_type(raw: str) -> str:
    name = raw.strip().lower().replace("-", "_").replace(" ", "_")
    return name if is_valid_event_type(name) else "print"
