"""This web process's fan-out: events from Redis to every open stream, latest values first.

One `Hub` per process. The relay (dashboard/relay.py) hands it every event published on Redis; the
hub keeps, per channel, what a stream that connected now would need to be current:

- `update` events carry absolute values of the metrics they changed. The hub merges them into one
  state per channel (per metric, the value of the highest version; a new epoch starts afresh), and
  every flush sends that state whole. So an `update` a stream never got (coalesced away, or
  overwritten because the stream was slow) cannot leave a stale number: the next one carries it.
- every other type (`ticker`, `progress`, `config`, `resync`, `relay-down`) is whole in itself:
  the latest of each type wins.

A channel flushes at most FLUSH_HZ times a second: a burst of updates costs every stream one write
per flush, not one per update, and a flush follows each change within 1/FLUSH_HZ s.

A stream holds no thread and no queue: a `Subscriber` keeps at most one pending frame per
(channel, event type) and an asyncio future to wake it. Frames are encoded once per flush and
shared by every stream. Where the server lets us (uvicorn), a flush writes each frame straight to
the stream's socket: no task wakes up per stream and per event. This is what lets one process hold
tens of thousands of streams and reach them all within a fraction of a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

log = logging.getLogger(__name__)

FLUSH_HZ = 10  # at most this many events a second per channel and stream (issue 13)
KEEP_ALIVE_SECONDS = 20.0
SLOW_FLUSH_SECONDS = 0.1
OPEN = b"event: stream-open\ndata:\n\n"
KEEP_ALIVE = b"event: keep-alive\ndata:\n\n"
RECHECKS = frozenset({"config", "resync"})  # after these, a stream checks it may stay open


def frame(event_type: str, data: str) -> bytes:
    # The data is one line of JSON (json.dumps escapes newlines), so one `data:` field suffices.
    return f"event: {event_type}\ndata: {data}\n\n".encode()


def merge_update(state: dict[str, Any] | None, update: dict[str, Any]) -> dict[str, Any]:
    """The state after `update`: per metric, the value of the highest version seen (each metric
    carries its own `version` once merged); a new epoch or a recalculation replaces everything."""
    metrics = update.get("metrics")
    version = update.get("version")
    if (
        state is None
        or not isinstance(metrics, dict)
        or not isinstance(version, int)
        or update.get("status", "live") != "live"
        or state.get("status", "live") != "live"
        or state.get("epoch") != update.get("epoch")
    ):
        merged = dict(update)
        if isinstance(metrics, dict) and isinstance(version, int):
            merged["metrics"] = {slug: {**m, "version": version} for slug, m in metrics.items()}
        return merged
    merged_metrics = dict(state.get("metrics") or {})
    for slug, values in metrics.items():
        held = merged_metrics.get(slug)
        if held is None or held.get("version", -1) <= version:
            merged_metrics[slug] = {**values, "version": version}
    merged = {**state, **{k: v for k, v in update.items() if k not in ("metrics", "goal", "version")}}
    merged["metrics"] = merged_metrics
    merged["version"] = max(version, state.get("version", 0))
    goal = update.get("goal")
    if goal and merged_metrics.get(goal.get("metric"), {}).get("version") == version:
        merged["goal"] = goal
    return merged


@dataclass(eq=False)
class Subscriber:
    """One open stream: its channels and the frames it has yet to write (latest per kind)."""

    channels: tuple[str, ...]
    pending: dict[tuple[str, str], bytes] = field(default_factory=dict)
    waiter: asyncio.Future | None = None
    # Writes a frame to the stream's socket at once (dashboard/handoff.py); False: not now (the
    # client reads slowly), keep it pending. None: the stream's coroutine writes every frame.
    write: Callable[[bytes], bool] | None = None
    recheck: bool = False  # a `config` or `resync` went out directly: the coroutine checks its watch

    def offer(self, key: tuple[str, str], data: bytes) -> None:
        if self.write is not None and not self.pending and self.write(data):
            if key[1] in RECHECKS:
                self.recheck = True
                self._wake()
            return
        self.pending.pop(key, None)  # a newer frame of the same kind replaces it, and goes last
        self.pending[key] = data
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def next_frames(self, timeout: float | None) -> list[tuple[str, bytes]] | None:
        """The frames to write now, oldest kind first; None when `timeout` passed with none.
        (With `write`, only the frames it could not take, and [("config", b"")] after a recheck.)"""
        if not self.pending and not self.recheck:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self.waiter, timeout)
            except TimeoutError:
                return None
            finally:
                self.waiter = None
        frames = [(event_type, data) for (_, event_type), data in self.pending.items()]
        self.pending.clear()
        if self.recheck:
            self.recheck = False
            frames.append(("config", b""))
        return frames


@dataclass(eq=False)
class Channel:
    name: str
    subscribers: set[Subscriber] = field(default_factory=set)
    state: dict[str, Any] | None = None  # merged `update`
    latest: dict[str, bytes] = field(default_factory=dict)  # event type -> frame of the last flush
    dirty: dict[str, bytes | None] = field(default_factory=dict)  # types changed since the last flush
    flush_at: float = 0.0
    scheduled: asyncio.TimerHandle | None = None
    published: int = 0  # events received (counted for the benchmark and tests)
    flushes: int = 0


class Hub:
    def __init__(self, *, flush_hz: float = FLUSH_HZ) -> None:
        self.interval = 1.0 / flush_hz
        self.channels: dict[str, Channel] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listener_task: asyncio.Task | None = None
        self.listener = None  # the relay's ResilientRedisListener, once started
        self.keep_alive_task: asyncio.Task | None = None
        self.on_flush: list = []  # callbacks(channel name, [(event type, frame)]): the Pushpin relay
        self.on_event: list = []  # callbacks(channel name, event type) as events arrive (caches)

    # --- streams ---------------------------------------------------------------------------------
    def subscribe(self, channels: Iterable[str]) -> Subscriber:
        self.bind_loop()
        subscriber = Subscriber(tuple(channels))
        for name in subscriber.channels:
            self._channel(name).subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        for name in subscriber.channels:
            channel = self.channels.get(name)
            if channel is not None:
                channel.subscribers.discard(subscriber)

    def open_streams(self) -> int:
        return len({s for c in self.channels.values() for s in c.subscribers})

    # --- events in -------------------------------------------------------------------------------
    def publish(self, channel_name: str, event_type: str, data: str) -> None:
        """One event from Redis (in the hub's loop). Sent to streams at the channel's next flush."""
        channel = self._channel(channel_name)
        channel.published += 1
        for callback in self.on_event:
            callback(channel_name, event_type)
        if event_type == "update":
            try:
                update = orjson.loads(data)
            except orjson.JSONDecodeError:
                log.warning("fan-out: ignored an update that is not JSON on %s", channel_name)
                return
            channel.state = merge_update(channel.state, update) if isinstance(update, dict) else None
            channel.dirty["update"] = None  # encoded at flush time, once
        else:
            channel.dirty[event_type] = frame(event_type, data)
        self._schedule(channel)

    def broadcast(self, event_type: str, data: str = "{}") -> None:
        """A data-less event to every channel with streams (the relay's `resync`, `relay-down`)."""
        for name, channel in list(self.channels.items()):
            if channel.subscribers or self.on_flush:
                self.publish(name, event_type, data)

    def _schedule(self, channel: Channel) -> None:
        if channel.scheduled is not None:
            return
        loop = self.bind_loop()
        delay = max(0.0, channel.flush_at - loop.time())
        channel.scheduled = loop.call_later(delay, self._flush, channel)

    def _flush(self, channel: Channel) -> None:
        loop = self.bind_loop()
        channel.scheduled = None
        channel.flush_at = loop.time() + self.interval
        channel.flushes += 1
        frames = []
        for event_type, data in channel.dirty.items():
            if data is None:  # the merged update
                data = frame("update", orjson.dumps(channel.state).decode())
            channel.latest[event_type] = data
            frames.append((event_type, data))
        channel.dirty.clear()
        started = time.perf_counter()
        for subscriber in channel.subscribers:
            for event_type, data in frames:
                subscriber.offer((channel.name, event_type), data)
        took = time.perf_counter() - started
        if took > SLOW_FLUSH_SECONDS:  # the whole process waits meanwhile: worth knowing
            log.warning(
                "fan-out: %s to %d streams took %.0f ms", channel.name, len(channel.subscribers), took * 1000
            )
        for callback in self.on_flush:
            callback(channel.name, frames)

    def _channel(self, name: str) -> Channel:
        channel = self.channels.get(name)
        if channel is None:
            channel = self.channels[name] = Channel(name)
        return channel

    def bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new loop (tests run several): start afresh
            self.loop = loop
            self.keep_alive_task = None
            self.listener_task = None
            for channel in self.channels.values():
                channel.scheduled = None
        if self.keep_alive_task is None:
            self.keep_alive_task = loop.create_task(self._keep_alive())
        return loop

    async def _keep_alive(self) -> None:
        """One timer for every stream: each gets a keep-alive when it had nothing for a while."""
        while True:
            await asyncio.sleep(KEEP_ALIVE_SECONDS)
            for channel in list(self.channels.values()):
                for subscriber in list(channel.subscribers):
                    if subscriber.channels[0] == channel.name and not subscriber.pending:
                        subscriber.offer(("", "keep-alive"), KEEP_ALIVE)

    def stats(self) -> dict[str, Any]:
        return {
            "streams": self.open_streams(),
            "channels": {
                name: {"published": c.published, "flushes": c.flushes, "streams": len(c.subscribers)}
                for name, c in self.channels.items()
            },
            "at": time.time(),
        }


HUB = Hub()
