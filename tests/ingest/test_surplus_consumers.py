"""More consumer tasks than INGEST_CONSUMERS: the surplus ones yield their worker thread.

After a FLUSHALL the consumers' heartbeats are gone; the beat (every 2 s) may start another consumer
task before the running one writes its heartbeat again (every lease/6 s). Two consumer tasks then
hold two worker threads for a whole task lifetime (300 s), and a "Verify totals" run queued on the
same worker waits behind them (seen in CI: the report stayed "queued"). A Celery consumer task that
finds itself surplus stops, releases its leases and does not hand over to a fresh task.
"""

from __future__ import annotations

import threading
import time

import pytest

from ingest.consumer import Consumer

pytestmark = pytest.mark.django_db


def run_in_thread(consumer: Consumer, seconds: float) -> threading.Thread:
    thread = threading.Thread(target=consumer.run, kwargs={"seconds": seconds}, daemon=True)
    thread.start()
    return thread


def test_after_a_flush_the_later_of_two_consumer_tasks_yields_and_the_first_runs_on(store, settings):
    settings.INGEST_LEASE_SECONDS = 1.2  # heartbeats every 0.2 s
    settings.INGEST_CONSUMERS = 1
    first = Consumer(store=store, consumer_id="consumer-a", load_configs=list, yields=True)
    first_thread = run_in_thread(first, 30)
    deadline = time.monotonic() + 5
    while "consumer-a" not in store.live_consumers() and time.monotonic() < deadline:
        time.sleep(0.05)
    store.redis.flushdb()  # the heartbeats go; the beat starts another consumer task
    second = Consumer(store=store, consumer_id="consumer-b", load_configs=list, yields=True)
    second_thread = run_in_thread(second, 30)
    second_thread.join(5)
    assert not second_thread.is_alive(), "the surplus consumer still holds its thread"
    assert second.surplus and not first.surplus
    time.sleep(0.5)
    assert first_thread.is_alive()
    assert store.live_consumers() == ["consumer-a"]
    first.stop.set()
    first_thread.join(5)
    assert not first_thread.is_alive()


class Heartbeats:
    """Another consumer, alive: its heartbeat moves every 0.1 s (as a running consumer's does)."""

    def __init__(self, store, consumer_id: str):
        self.store, self.id, self.done = store, consumer_id, threading.Event()
        self.thread = threading.Thread(target=self.beat, daemon=True)
        self.thread.start()

    def beat(self) -> None:
        while not self.done.is_set():
            self.store.heartbeat_consumer(self.id, 30)
            self.done.wait(0.1)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(5)


def test_a_queued_consumer_task_does_not_count_and_manage_py_consume_never_yields(store, settings):
    settings.INGEST_LEASE_SECONDS = 1.2
    settings.INGEST_CONSUMERS = 1
    store.heartbeat_consumer("pending-0123", 30)  # a task the beat queued, not started yet
    alive = Heartbeats(store, "consumer-0")  # sorts first: the one that keeps running
    try:
        celery_task = Consumer(store=store, consumer_id="consumer-b", load_configs=list, yields=True)
        command = Consumer(store=store, consumer_id="consumer-c", load_configs=list)  # manage.py consume
        threads = [run_in_thread(celery_task, 30), run_in_thread(command, 1.5)]
        threads[0].join(5)
        assert celery_task.surplus and not threads[0].is_alive()
        threads[1].join(5)
        assert not command.surplus and not threads[1].is_alive()  # it ran its whole 1.5 s
    finally:
        alive.stop()

    store.redis.delete(store.consumers_key())
    store.heartbeat_consumer("pending-0123", 30)
    alone = Consumer(store=store, consumer_id="consumer-z", load_configs=list, yields=True)
    thread = run_in_thread(alone, 1.0)
    thread.join(5)
    assert not alone.surplus, "a queued task counted as a running consumer"


def test_the_last_live_consumer_does_not_yield_to_a_killed_one_whose_heartbeat_has_not_run_out(
    store, settings
):
    settings.INGEST_LEASE_SECONDS = 1.2
    settings.INGEST_CONSUMERS = 1
    store.heartbeat_consumer("consumer-0", 30)  # killed: its heartbeat stays until it runs out
    survivor = Consumer(store=store, consumer_id="consumer-b", load_configs=list, yields=True)
    thread = run_in_thread(survivor, 1.5)
    thread.join(5)
    assert not thread.is_alive() and not survivor.surplus, "the only live consumer yielded to a dead one"
