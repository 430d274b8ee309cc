"""The event model: what the ingester publishes and what clients receive.

This package is the wire contract between the two services. It is pure: no I/O.
"""

from adstack_events.contracts import (
    CONTRACT_ID_RE,
    event_type_from_print,
    is_valid_contract_id,
    is_valid_event_type,
)
from adstack_events.model import (
    BlockFeed,
    ContractEvent,
    EventRef,
    EventReverted,
    TransactionFeed,
    event_id,
    print_event,
)

__all__ = [
    "CONTRACT_ID_RE",
    "BlockFeed",
    "ContractEvent",
    "EventRef",
    "EventReverted",
    "TransactionFeed",
    "event_id",
    "event_type_from_print",
    "is_valid_contract_id",
    "is_valid_event_type",
    "print_event",
]
