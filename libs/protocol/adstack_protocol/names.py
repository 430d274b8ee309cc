"""Event names on the wire, kept from the original Node server so its users can switch."""

from __future__ import annotations

from enum import StrEnum


class ClientCommand(StrEnum):
    """Client → server ``event`` names."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    GET_HISTORY = "getHistory"
    GET_STATS = "getStats"
    SUBSCRIBE_BLOCKS = "subscribeBlocks"
    UNSUBSCRIBE_BLOCKS = "unsubscribeBlocks"
    SUBSCRIBE_TRANSACTIONS = "subscribeTransactions"
    UNSUBSCRIBE_TRANSACTIONS = "unsubscribeTransactions"
    REFRESH = "refresh"
    PING = "ping"


class ServerEvent(StrEnum):
    """Server → client ``event`` names."""

    CONNECTED = "connected"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    EVENT = "event"
    EVENT_REVERTED = "event_reverted"
    HISTORY = "history"
    STATS = "stats"
    BLOCK = "block"
    TRANSACTION = "transaction"
    REFRESHED = "refreshed"
    PONG = "pong"
    ERROR = "error"
    GLOBAL_EVENT = "global_event"
    """``{contractId, type, timestamp}`` of every event a connection's token allows, only
    with ``GLOBAL_EVENTS=true`` (the original sent it to everybody)."""
    CLOSING = "closing"
    """Socket.IO only: ``{code, reason}`` just before the server ends the connection (a
    Socket.IO disconnect carries no close code)."""
