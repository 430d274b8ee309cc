"""Every Prometheus metric the gateway exposes, and the helpers that record them.

All names start with ``adstack_``; ``adstack_connected_clients`` and
``adstack_active_subscriptions`` keep the original server's names. Labels come from fixed
vocabularies (close codes, auth reasons, error codes, command names) or pass through a
:class:`~adstack_metrics.BoundedLabel` (event types, sources): never a user, connection or
transaction id. Process-level metrics (uptime, memory, Redis health) live in
:mod:`adstack_metrics.process`.

The connection and subscription gauges are set from live state on every sample
(:func:`set_live_counts`), so they stay right whatever path opened or closed a session.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from adstack_metrics import BoundedLabel, choose, clean
from adstack_protocol import ClientCommand, CloseCode, ErrorCode, ServerEvent

RELAY_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                         1.0, 2.5)
"""Publish (``publishedAt``) → frame written to the client, 0.5 ms … 2.5 s."""

TRANSPORTS = ("native", "socketio")
_TRANSPORT_OF_KIND = {"ws": "native", "sio": "socketio"}
AUTH_REASONS = ("missing", "malformed", "too_large", "bad_signature", "expired",
                "not_yet_valid", "bad_issuer", "bad_audience", "bad_algorithm",
                "missing_claim", "unknown_key", "keys_unavailable", "forbidden_origin",
                "wrong_user")
"""``adstack_auth.AuthError.reason`` values, a refused ``Origin``, and a ``refresh`` token
for another user."""
RATE_LIMITS = ("commands", "connections_per_ip", "pending_handshakes")
VIOLATIONS = ("eio_garbage", "invalid_utf8", "body_too_large", "length_required",
              "sio_malformed", "control_flood", "join_timeout")
"""Transport-level protocol violations (see :func:`record_violation`): an Engine.IO packet
that is not one, bytes that are not UTF-8, a polling POST over the size limit or without a
length, a malformed Socket.IO packet, a peer whose control frames (PING → PONG) outgrew
``OUTBOX_MAX_BYTES``, an Engine.IO connection that never joined the namespace."""
RECOVERY_OUTCOMES = ("recovered", "epoch_changed", "ahead", "history_gap", "unavailable",
                     "not_confirmed")
"""What a ``subscribe`` with ``since`` came to: ``recovered`` (all missed events
replayed), or why not — the epoch changed, the client claimed an offset ahead of ours,
history no longer covers the gap, Redis failed, or the channel subscription was not
confirmed."""
BACKFILL_OUTCOMES = ("ok", "failed")
FEEDS = ("block", "transaction")
DISCONNECT_REASONS = (*(code.name.lower() for code in CloseCode), "client")
"""``CloseCode`` names (``slow``, ``shutdown``, …) for server-initiated closes, and
``client`` for closes the client started."""

event_type_label = BoundedLabel(100)
"""Event types come from contract code: the first 100 distinct ones keep their name."""
source_label = BoundedLabel(8, preset=("observer", "hiro", "chainhook"))

CONNECTED_CLIENTS = Gauge("adstack_connected_clients", "Open client connections.",
                          multiprocess_mode="livesum")
ACTIVE_SUBSCRIPTIONS = Gauge("adstack_active_subscriptions",
                             "Contract subscriptions held by open connections.",
                             multiprocess_mode="livesum")
REDIS_CHANNELS = Gauge("adstack_redis_channels",
                       "Contract channels this gateway is subscribed to in Redis.",
                       multiprocess_mode="livesum")
CONNECTIONS = Counter("adstack_connections", "Client connections accepted.", ["transport"])
DISCONNECTS = Counter("adstack_disconnects",
                      "Client connections closed, by transport and reason.",
                      ["transport", "reason"])
COMMANDS = Counter("adstack_commands", "Client commands received, by command.", ["command"])
PROTOCOL_ERRORS = Counter("adstack_protocol_errors",
                          "error frames sent to clients, by error code.", ["code"])
EVENTS_DELIVERED = Counter("adstack_events_delivered",
                           "Event frames written to clients (one per client), by event type "
                           "and source.", ["type", "source"])
FEED_MESSAGES_DELIVERED = Counter("adstack_feed_messages_delivered",
                                  "block / transaction feed frames written to clients.",
                                  ["feed"])
RELAY_LATENCY = Histogram("adstack_relay_latency_seconds",
                          "Seconds from the ingester's publish to the frame written to the "
                          "client.", buckets=RELAY_LATENCY_BUCKETS)
OUTBOX_OVERFLOWS = Counter("adstack_outbox_overflows",
                           "Clients closed as too slow (4001): more than OUTBOX_MAX_BYTES "
                           "unsent in the socket's write buffer or the outbound queue.")
AUTH_FAILURES = Counter("adstack_auth_failures", "Refused handshakes and refreshes, by reason.",
                        ["reason"])
RATE_LIMIT_HITS = Counter("adstack_rate_limit_hits", "Requests refused by a limit, by limit.",
                          ["limit"])
RECOVERIES = Counter("adstack_recoveries", "subscribe with since: outcome of the recovery.",
                     ["outcome"])
RESUME_GAPS = Counter("adstack_resume_gaps",
                      "Subscriptions told recovered:false after the gateway's Redis pub/sub "
                      "link came back (their continuity could not be proven).")
BUS_MALFORMED = Counter("adstack_bus_malformed_messages",
                        "Messages from Redis that were not valid frames (dropped).")
BACKFILLS = Counter("adstack_backfills",
                    "getHistory answers completed from the Stacks API, by outcome (a failed "
                    "backfill leaves the Redis history as it is).", ["outcome"])
BACKFILLED_EVENTS = Counter("adstack_backfilled_events",
                            "Events added to getHistory answers from the Stacks API.")
VIOLATIONS_SEEN = Counter("adstack_protocol_violations",
                          "Connections or requests refused for a transport-level protocol "
                          "violation, by kind.", ["kind"])
DRAINING = Gauge("adstack_draining", "1 while this gateway drains (after SIGTERM), else 0.",
                 multiprocess_mode="livemax")


def set_live_counts(connections: int, subscriptions: int, channels: int) -> None:
    """Set the gauges that mirror live state (called on every metrics sample)."""
    CONNECTED_CLIENTS.set(connections)
    ACTIVE_SUBSCRIPTIONS.set(subscriptions)
    REDIS_CHANNELS.set(channels)


def transport_of(kind: str) -> str:
    """The ``transport`` label of a session kind (``ws`` → ``native``, ``sio`` →
    ``socketio``)."""
    return _TRANSPORT_OF_KIND.get(kind, kind)


def record_connection(transport: str = "native") -> None:
    CONNECTIONS.labels(transport=choose(transport, TRANSPORTS)).inc()


def disconnect_reason(close_code: int | None) -> str:
    """The ``reason`` label for a close: the close code's name, ``client`` if none."""
    if close_code is None:
        return "client"
    try:
        return CloseCode(close_code).name.lower()
    except ValueError:
        return "other"


def record_disconnect(close_code: int | None, transport: str = "native") -> None:
    """A connection ended; ``close_code`` is the server's close code, None if the client left."""
    DISCONNECTS.labels(transport=choose(transport, TRANSPORTS),
                       reason=disconnect_reason(close_code)).inc()


_COMMANDS = frozenset(c.value for c in ClientCommand)
_ERROR_CODES = frozenset(c.value for c in ErrorCode)


def record_command(command: str) -> None:
    COMMANDS.labels(command=choose(command, _COMMANDS)).inc()


def record_protocol_error(code: ErrorCode | str) -> None:
    value = code.value if isinstance(code, ErrorCode) else code
    PROTOCOL_ERRORS.labels(code=choose(value, _ERROR_CODES)).inc()


def record_delivery(count: int = 1, *, frame: str = ServerEvent.EVENT, event_type: str = "",
                    source: str = "") -> None:
    """``count`` frames written to clients.

    ``frame`` is the frame's event name: ``event`` / ``event_reverted`` count as events (by
    type and source; a revert's type is ``event_reverted``), ``block`` / ``transaction`` as
    feed messages; replies (``subscribed``, ``history``, …) are not deliveries.
    """
    if count <= 0:
        return
    if frame == ServerEvent.EVENT:
        EVENTS_DELIVERED.labels(type=event_type_label(event_type),
                                source=source_label(source)).inc(count)
    elif frame == ServerEvent.EVENT_REVERTED:
        EVENTS_DELIVERED.labels(type=ServerEvent.EVENT_REVERTED.value,
                                source=source_label(source)).inc(count)
    elif frame in FEEDS:
        FEED_MESSAGES_DELIVERED.labels(feed=str(frame)).inc(count)


def observe_relay_latency(seconds: float) -> None:
    """Publish → written to client. Negative values (clock skew between hosts) count as 0."""
    RELAY_LATENCY.observe(max(0.0, seconds))


def observe_relay_since(published_at_ms: int, now: float) -> None:
    """Relay latency from an event's ``publishedAt`` (ms since the epoch) and ``time.time()``."""
    if published_at_ms > 0:
        observe_relay_latency(now - published_at_ms / 1000)


def record_outbox_overflow() -> None:
    """A client had more than ``OUTBOX_MAX_BYTES`` unsent (it is closed with 4001 SLOW)."""
    OUTBOX_OVERFLOWS.inc()


def record_auth_failure(reason: str) -> None:
    AUTH_FAILURES.labels(reason=choose(clean(reason), AUTH_REASONS)).inc()


def record_rate_limited(limit: str) -> None:
    """A request was refused by ``limit`` (``commands`` or ``connections_per_ip``)."""
    RATE_LIMIT_HITS.labels(limit=choose(limit, RATE_LIMITS)).inc()


def record_violation(kind: str) -> None:
    """See :data:`VIOLATIONS`."""
    VIOLATIONS_SEEN.labels(kind=choose(kind, VIOLATIONS)).inc()


def record_recovery(outcome: str) -> None:
    """See :data:`RECOVERY_OUTCOMES`."""
    RECOVERIES.labels(outcome=choose(outcome, RECOVERY_OUTCOMES)).inc()


def record_resume_gap(subscriptions: int) -> None:
    """``subscriptions`` were told ``recovered: false`` after a bus reconnect."""
    RESUME_GAPS.inc(subscriptions)


def record_bus_malformed() -> None:
    BUS_MALFORMED.inc()


def record_backfill(outcome: str, events: int = 0) -> None:
    """One backfill attempt (see :data:`BACKFILL_OUTCOMES`) that added ``events`` events."""
    BACKFILLS.labels(outcome=choose(outcome, BACKFILL_OUTCOMES)).inc()
    if events > 0:
        BACKFILLED_EVENTS.inc(events)


def set_draining(draining: bool) -> None:
    DRAINING.set(1 if draining else 0)
