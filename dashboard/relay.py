"""Fan-out from Redis pub/sub to this web process's open SSE streams, surviving Redis outages.

With EVENTSTREAM_REDIS set, django-eventstream publishes every event on one pub/sub channel and
each web process relays it to its own streams (dashboard/fanout.py). django-eventstream's own
RedisListener, which this replaces, subscribes once: when the
connection drops (Redis restarted, failed over, a network cut) its task ends, and the process
sends nothing but keep-alives until it is restarted. Screens would freeze on their last numbers
while looking connected.

This relay reconnects with backoff, subscribes again and then sends every open stream a `resync`
event: pub/sub keeps nothing, so whatever was published meanwhile is lost and each screen must
fetch a fresh snapshot. While it is away, streams get `relay-down`, so screens show that their
numbers may be stale. A connection that goes silent (no message and no answer to a ping) counts
as dropped too: a half-open TCP connection would otherwise look healthy for hours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from contextlib import suppress
from typing import Any

from .fanout import HUB

log = logging.getLogger(__name__)

CHANNEL = "events_channel"  # django-eventstream's pub/sub channel (django_eventstream.eventstream)
PING_SECONDS = 5.0
SILENCE_SECONDS = 12.0  # nothing heard for this long, pings included: the connection is dead
RETRY_MIN_SECONDS = 0.25
RETRY_MAX_SECONDS = 2.0  # Redis is local to the web servers: retrying often costs little
RESYNC = "resync"
RELAY_DOWN = "relay-down"


class ResilientRedisListener:
    """`await start()` runs forever, handing every event to the hub."""

    def __init__(self, redis_kwargs: dict[str, Any]):
        self.redis_kwargs = dict(redis_kwargs)
        self.connected = False
        self.connections = 0
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.task = asyncio.current_task()
        delay = RETRY_MIN_SECONDS
        lost = False
        while True:
            client, pubsub = self._connect()
            try:
                await pubsub.subscribe(CHANNEL)
                self.connected = True
                self.connections += 1
                if lost:
                    log.info("event relay: subscribed again; asking screens to resync")
                    broadcast(RESYNC)
                    lost = False
                delay = RETRY_MIN_SECONDS
                await self._pump(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                if not lost:
                    log.warning(
                        "event relay: lost Redis pub/sub (%s: %s); reconnecting", type(exc).__name__, exc
                    )
            finally:
                self.connected = False
                with suppress(Exception):
                    await pubsub.aclose()
                with suppress(Exception):
                    await client.aclose()
            if not lost:
                lost = True
                broadcast(RELAY_DOWN)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _connect(self):
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No retries inside redis-py: its pub/sub would reconnect quietly and we would not know
        # that messages were lost in between. Every failure comes here instead.
        client = Redis(
            **self.redis_kwargs, retry=Retry(NoBackoff(), 0), socket_connect_timeout=3, socket_keepalive=True
        )
        return client, client.pubsub()

    async def _pump(self, pubsub) -> None:
        loop = asyncio.get_running_loop()
        heard = pinged = loop.time()
        while True:
            message = await pubsub.get_message(timeout=1.0)
            now = loop.time()
            if message is not None:
                heard = now
                if message.get("type") == "message":
                    dispatch(message["data"])
            elif now - heard > SILENCE_SECONDS:
                raise ConnectionError(f"nothing heard for {SILENCE_SECONDS:.0f}s")
            if now - pinged >= PING_SECONDS:
                pinged = now
                await pubsub.ping()


def dispatch(raw: bytes | str) -> None:
    """Hand one published event (as django_eventstream.send_event puts it on Redis) to the hub."""
    try:
        data = json.loads(raw)
        channel, event_type, payload = data["channel"], data["event_type"], data["data"]
    except (ValueError, KeyError, TypeError):
        log.warning("event relay: ignored a malformed message")
        return
    if not isinstance(payload, str):
        payload = json.dumps(payload)
    HUB.publish(channel, event_type, payload)


def broadcast(event_type: str) -> None:
    """Send a data-less event to every stream open in this process."""
    HUB.broadcast(event_type)


def ensure_started() -> None:
    """Start this process's relay in the running loop, once (the first stream does it)."""
    from django.conf import settings

    HUB.bind_loop()  # a new event loop (tests run several) starts afresh
    if HUB.listener_task is not None and not HUB.listener_task.done():
        return
    listener = ResilientRedisListener(settings.EVENTSTREAM_REDIS)
    HUB.listener_task = asyncio.get_running_loop().create_task(listener.start())
    HUB.listener = listener
