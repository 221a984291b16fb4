"""The web process's pub/sub relay against a real Redis that goes away and comes back."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from django_eventstream.views import Listener, get_listener_manager

from dashboard import relay
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


async def received(listener: Listener, event_type: str, timeout: float) -> float:
    """Seconds until the listener got an event of that type (the events queued so far are taken)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < timeout:
        manager = get_listener_manager()
        with manager.lock:
            items = listener.channel_items.pop(CHANNEL, [])
        if any(item.type == event_type for item in items):
            return loop.time() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {event_type} event within {timeout}s")


def run_with_listener(scenario) -> None:
    async def main():
        listener = Listener()
        listener.assign_loop()
        listener.channels = {CHANNEL}
        manager = get_listener_manager()
        with manager.lock:  # registered directly: add_listener would start the process's own relay
            manager.listeners_by_channel.setdefault(CHANNEL, set()).add(listener)
        try:
            await scenario(listener)
        finally:
            manager.remove_listener(listener)

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


def test_it_is_installed_in_place_of_django_eventstreams_listener():
    assert isinstance(get_listener_manager().redis_listener, ResilientRedisListener)
