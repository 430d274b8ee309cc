"""A gateway's single Redis pub/sub connection.

Channels are added and removed while it runs; after a lost connection it reconnects with
exponential backoff and full jitter, resubscribes every channel, and — once Redis has
confirmed them all — reports the reconnect so the gateway can re-read what it missed from
history (offsets tell it what that is).

Delivery guarantee: at most once per connection lifetime (Redis pub/sub never replays);
per-channel order is kept. Not safe to share across event loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from adstack_bus import keys

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]
"""Called with (channel, payload) for each message; must not block or await."""

ReconnectHandler = Callable[[frozenset[str]], Awaitable[None]]
"""Awaited after a reconnect, with the channels that were resubscribed."""

DisconnectHandler = Callable[[frozenset[str]], None]
"""Called when the connection drops, with the channels it carried (messages on them may be
missed until the reconnect handler runs)."""

# Subscribed for the connection's whole life: redis-py's listener returns at once when
# nothing is subscribed, and its confirmation tells us the connection is live.
CONTROL_CHANNEL = f"{keys.PREFIX}:ctl"


class Subscriber:
    """Owns one pub/sub connection; call :meth:`run` in a task, then (un)subscribe freely.

    Give it a client made with ``create_redis(url, retries=False)``: it must see a lost
    connection to report the reconnect (``on_disconnect`` / ``on_reconnect``)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        on_message: MessageHandler,
        *,
        on_reconnect: ReconnectHandler | None = None,
        on_disconnect: DisconnectHandler | None = None,
        max_backoff: float = 5.0,
        sharded: bool = False,
        control_channel: str = CONTROL_CHANNEL,
    ) -> None:
        self._redis = redis
        self._sharded = sharded
        """Every channel uses SSUBSCRIBE (Redis Cluster shard channels of one node); the
        control channel must then be a shard channel owned by the same node."""
        self._control = control_channel
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._on_disconnect = on_disconnect
        self._max_backoff = max_backoff
        self._channels: set[str] = set()
        self._pubsub: aioredis.client.PubSub | None = None
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._active: set[str] = set()
        """Channels Redis confirmed on the current connection."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.connected = asyncio.Event()
        """Set while the connection is up and every channel is confirmed."""
        self.reconnects = 0

    @property
    def closing(self) -> bool:
        return self._closed

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    def _waiter(self, channel: str) -> asyncio.Future[None]:
        waiter = self._confirmations.get(channel)
        if waiter is None:
            waiter = asyncio.get_running_loop().create_future()
            self._confirmations[channel] = waiter
        return waiter

    async def subscribe(self, channel: str, *, timeout: float = 5.0) -> bool:
        """Add ``channel`` and wait until Redis confirms it.

        Returns True once messages published from now on will arrive; False if the
        connection is down (the channel is kept and resubscribed on reconnect).
        """
        self._channels.add(channel)
        try:
            # Commands are only sent on an established connection whose reader runs:
            # while (re)connecting, the connection belongs to run().
            await asyncio.wait_for(self.connected.wait(), timeout)
            if channel in self._active:
                return True
            waiter = self._confirmations.get(channel)
            if waiter is None:
                pubsub = self._pubsub
                if pubsub is None:
                    return False
                waiter = self._waiter(channel)
                try:
                    if self._sharded:
                        await pubsub.ssubscribe(channel)
                    else:
                        await pubsub.subscribe(channel)
                except (RedisError, OSError):
                    log.warning("subscribe %s failed; resubscribed after reconnect", channel)
                    self._confirmations.pop(channel, None)
                    return False
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except (TimeoutError, asyncio.CancelledError):
            return False
        return True

    async def unsubscribe(self, channel: str) -> None:
        """Remove ``channel``."""
        if channel not in self._channels:
            return
        self._channels.discard(channel)
        self._active.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None and self.connected.is_set():
            try:
                if self._sharded:
                    await pubsub.sunsubscribe(channel)
                else:
                    await pubsub.unsubscribe(channel)
            except (RedisError, OSError):
                log.warning("unsubscribe %s failed", channel)

    async def run(self) -> None:
        """Receive until :meth:`close`; reconnects forever on failures."""
        attempt = 0
        first = True
        while not self._closed:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
            self._pubsub = pubsub
            try:
                channels = [self._control, *self._channels]
                waiters = [self._waiter(channel) for channel in channels]
                if self._sharded:
                    # One command per channel: SSUBSCRIBE refuses channels of several
                    # slots in one call (CROSSSLOT), and a node serves many slots.
                    for channel in channels:
                        await pubsub.ssubscribe(channel)
                else:
                    await pubsub.subscribe(*channels)
                self._spawn(self._after_confirmed(waiters, frozenset(channels[1:]),
                                                  reconnected=not first))
                first = False
                attempt = 0
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.closing:
                    break
                delay = random.uniform(0, min(self._max_backoff, 0.1 * 2**attempt))
                attempt += 1
                log.warning("redis pub/sub lost (%s); reconnecting in %.2fs",
                            type(exc).__name__, delay)
                self._reset(pubsub)
                await asyncio.sleep(delay)
            finally:
                self._reset(pubsub)
                await _close_quietly(pubsub)

    def _reset(self, pubsub: aioredis.client.PubSub) -> None:
        if self._pubsub is pubsub:
            self._pubsub = None
        if self.connected.is_set() and self._on_disconnect is not None and not self._closed:
            self._on_disconnect(self.channels)
        self.connected.clear()
        self._active.clear()
        for waiter in self._confirmations.values():
            if not waiter.done():
                waiter.cancel()
        self._confirmations.clear()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_confirmed(self, waiters: list[asyncio.Future[None]],
                               channels: frozenset[str], *, reconnected: bool) -> None:
        try:
            await asyncio.gather(*waiters)
        except asyncio.CancelledError:
            return
        self.connected.set()
        if reconnected:
            self.reconnects += 1
            log.info("redis pub/sub reconnected; %d channels resubscribed", len(channels))
            if self._on_reconnect is not None:
                try:
                    await self._on_reconnect(channels)
                except Exception:
                    log.exception("reconnect handler failed")

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        handler = self._on_message
        async for message in pubsub.listen():
            if message is None:
                continue
            kind = message["type"]
            if kind not in {"message", "smessage"}:
                if kind in {"subscribe", "ssubscribe"}:
                    waiter = self._confirmations.pop(message["channel"].decode(), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
                continue
            channel = message["channel"].decode()
            if channel == self._control:
                continue
            try:
                handler(channel, message["data"])
            except Exception:
                log.exception("message handler failed for %s", channel)

    async def close(self) -> None:
        """Stop :meth:`run` after its current message."""
        self._closed = True
        pubsub = self._pubsub
        if pubsub is not None:
            await _close_quietly(pubsub)
        for task in list(self._tasks):
            task.cancel()


async def _close_quietly(pubsub: aioredis.client.PubSub) -> None:
    """Close ``pubsub``, ignoring a connection that is already gone.

    ``PubSub.aclose`` is untyped in redis-py 8.1 and typed from 8.2; calling it through a
    typed name keeps mypy --strict clean on both without a ``type: ignore`` that one of
    them reports as unused.
    """
    aclose: Callable[[], Awaitable[None]] = pubsub.aclose
    with contextlib.suppress(RedisError, OSError):
        await aclose()
