"""The web process's pub/sub relay against a real Redis that goes away and comes back."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis

from dashboard import relay
from dashboard.fanout import HUB, Subscriber
from dashboard.relay import ResilientRedisListener
from devtools.embedded import EmbeddedRedis

CHANNEL = "campaign-relay-test"


@pytest.fixture
def private_redis():
    server = EmbeddedRedis().start()
    yield server
    server.close()


def publish(port: int, event_type: str, data: dict) -> None:
    client = redis.Redis(port=port)
    try:  # exactly what django_eventstream.send_event puts on the channel
        client.publish(
            "events_channel",
            json.dumps(
                {"channel": CHANNEL, "event_type": event_type, "data": json.dumps(data), "pub_id": None}
            ),
        )
    finally:
        client.close()


async def received(listener: Subscriber, event_type: str, timeout: float) -> float:
    """Seconds until the stream got an event of that type (the frames pending so far are taken)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < timeout:
        frames = await listener.next_frames(timeout - (loop.time() - started))
        if frames and any(kind == event_type for kind, _ in frames):
            return loop.time() - started
    raise AssertionError(f"no {event_type} event within {timeout}s")


def run_with_listener(scenario) -> None:
    async def main():
        listener = HUB.subscribe([CHANNEL])  # a stream, without the process's own relay
        try:
            await scenario(listener)
        finally:
            HUB.unsubscribe(listener)

    asyncio.run(main())


async def until_connected(subject: ResilientRedisListener, timeout: float = 5) -> None:
    for _ in range(int(timeout / 0.05)):
        if subject.connected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the relay did not connect")


def test_it_subscribes_again_after_redis_was_away_and_asks_screens_to_resync(private_redis):
    port = private_redis.port

    async def scenario(listener):
        subject = ResilientRedisListener({"host": "127.0.0.1", "port": port, "db": 0})
        task = asyncio.create_task(subject.start())
        try:
            await until_connected(subject)
            publish(port, "update", {"n": 1})
            await received(listener, "update", 3)

            await asyncio.to_thread(private_redis.stop)
            await received(listener, "relay-down", 3)  # screens show they may be stale
            await asyncio.sleep(3)  # (the 30 s outage with screens: test_redis_outage.py)
            await asyncio.to_thread(private_redis.start)
            assert await received(listener, "resync", 5) < 3.0  # backoff is capped at 2 s
            publish(port, "update", {"n": 2})
            await received(listener, "update", 3)
            assert subject.connections == 2
        finally:
            task.cancel()

    run_with_listener(scenario)


def test_a_connection_that_goes_silent_counts_as_lost(private_redis, monkeypatch):
    monkeypatch.setattr(relay, "PING_SECONDS", 0.3)
    monkeypatch.setattr(relay, "SILENCE_SECONDS", 1.0)
    port = private_redis.port

    async def scenario(listener):
        subject = ResilientRedisListener({"host": "127.0.0.1", "port": port, "db": 0})
        task = asyncio.create_task(subject.start())
        try:
            await until_connected(subject)
            redis.Redis(port=port).execute_command("CLIENT", "PAUSE", "2500", "ALL")  # a stuck server
            await received(listener, "relay-down", 4)
            await received(listener, "resync", 8)
            publish(port, "update", {"n": 3})
            await received(listener, "update", 3)
        finally:
            task.cancel()

    run_with_listener(scenario)


def test_the_first_stream_starts_the_relay_once():
    async def main():
        relay.ensure_started()
        task = HUB.listener_task
        relay.ensure_started()
        assert HUB.listener_task is task and isinstance(HUB.listener, ResilientRedisListener)
        task.cancel()

    asyncio.run(main())
