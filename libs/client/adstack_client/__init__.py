"""Python client SDK for AdStack Realtime gateways.

    async with connect("ws://localhost:3002/ws", token=token) as client:
        async for item in client.subscribe(contract_id, event_types=["campaign_created"]):
            ...

The client reconnects with exponential backoff and full jitter, resumes every subscription
from its last offset, and tells the caller when that was not possible
(:class:`RecoveryFailed`) or when a reorg withdrew events (:class:`Reverted`).
"""

from adstack_client.client import Client, ClientClosed, connect
from adstack_client.models import Event, RecoveryFailed, Reverted, SubscriptionItem

__all__ = [
    "Client",
    "ClientClosed",
    "Event",
    "RecoveryFailed",
    "Reverted",
    "SubscriptionItem",
    "connect",
]
