"""Celery tasks: thin wrappers around the consumer.

`run_consumer` is a long-running task that reads streams for a bounded time, then hands over to a
fresh task. `ensure_consumers` (beat, every 2 s) keeps INGEST_CONSUMERS of them alive: a killed
worker's consumer stops heartbeating and is replaced; its shard leases expire and move.
"""

from __future__ import annotations

import threading
import uuid

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings

from .consumer import PENDING, Consumer, settle_heap
from .store import Store

INGEST_QUEUE = "ingest"
PENDING_GRACE_SECONDS = 30.0
_stop = threading.Event()


@worker_shutting_down.connect
def _finish_in_flight_batches(**_kwargs) -> None:
    # SIGTERM: each consumer finishes its batch in flight, commits, releases its leases and returns.
    _stop.set()


@worker_ready.connect
def _start_consumers(**_kwargs) -> None:
    ensure_consumers.delay()


@shared_task(acks_late=False, ignore_result=True)
def run_consumer(pending_id: str = "") -> None:
    store = Store()
    if pending_id:
        store.drop_consumer(pending_id)
    if len(store.live_consumers()) >= settings.INGEST_CONSUMERS:
        return  # a duplicate hand-over; enough consumers are already running
    settle_heap()
    consumer = Consumer(store=store, stop=_stop, yields=True)
    consumer.run(seconds=settings.INGEST_CONSUMER_SECONDS)
    if not _stop.is_set() and not consumer.surplus:
        start_consumer(store)


@shared_task(ignore_result=True)
def ensure_consumers() -> int:
    store = Store()
    missing = settings.INGEST_CONSUMERS - len(store.live_consumers())
    for _ in range(max(0, missing)):
        start_consumer(store)
    return max(0, missing)


def start_consumer(store: Store) -> None:
    # Counted as live until it starts (or the grace runs out), so the beat does not pile up tasks.
    pending_id = f"{PENDING}{uuid.uuid4().hex[:12]}"
    store.heartbeat_consumer(pending_id, PENDING_GRACE_SECONDS)
    run_consumer.apply_async(args=[pending_id], queue=INGEST_QUEUE)
