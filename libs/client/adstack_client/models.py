"""What a subscription yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adstack_client.positions import parse_offset


@dataclass(frozen=True, slots=True)
class Event:
    """One contract event (the ``data`` of an ``event`` frame)."""

    raw: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.raw["id"])

    @property
    def type(self) -> str:
        return str(self.raw["type"])

    @property
    def contract_id(self) -> str:
        return str(self.raw["contractId"])

    @property
    def offset(self) -> int:
        return parse_offset(self.raw.get("offset", 0)) or 0

    @property
    def epoch(self) -> str:
        return str(self.raw.get("epoch", ""))

    @property
    def data(self) -> Any:
        return self.raw.get("data")


@dataclass(frozen=True, slots=True)
class Reverted:
    """Events withdrawn by a chain reorganisation (an ``event_reverted`` frame)."""

    contract_id: str
    ids: list[str]
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecoveryFailed:
    """The gateway could not prove that nothing was missed (``recovered: false``).

    Yielded after a reconnect whose ``since`` the history no longer covers, and when the
    gateway's own link to Redis came back after a gap (or Redis restarted empty). Events of
    ``epoch`` up to ``offset`` that you did not receive are gone; every event the history
    still holds after ``offset`` follows, in order, without you asking. Rebuild any state
    that depended on the missing ones before trusting incremental updates again.
    """

    contract_id: str
    epoch: str
    offset: int


SubscriptionItem = Event | Reverted | RecoveryFailed
