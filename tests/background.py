"""Background work for tests that watch a live evening: gifts written by a thread at a steady
rate, and the real stream consumer running in a thread as `manage.py consume` runs it."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ingest.consumer import Consumer
from ingest.generations import MAINTAIN_SECONDS


def gift_item(number: int, name: str, amount: int) -> dict:
    return {
        "id": f"gift-{number:06d}",
        "name": name,
        "email": f"donor{number}@mail.test",
        "platform": ("Website", "Text-to-give", "Gala auction", "Phone")[number % 4],
        "amount": Decimal(amount),
    }


class GiftStream:
    """Gifts written to a table by a thread, `rate` a second on average (at random moments, as a
    room gives: sometimes several at once). put: the table's PutItem (a simulator's, or boto3's)."""

    def __init__(self, put: Callable[[dict], Any], *, rate: float, first: int = 1, seed: int = 14):
        self.put, self.rate, self.next = put, rate, first
        self.rng = random.Random(seed)
        self.written: list[tuple[float, str]] = []  # (monotonic time, donor name)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write, daemon=True, name="gifts")

    def give(self, count: int, name: str = "Donor {n}") -> None:
        for _ in range(count):
            number, self.next = self.next, self.next + 1
            donor = name.format(n=number)
            self.put(gift_item(number, donor, self.rng.choice((5, 10, 20, 25, 50, 100))))
            self.written.append((time.monotonic(), donor))

    def start(self) -> GiftStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _write(self) -> None:
        # Arrival times drawn ahead (a Poisson process): a thread that wakes up late catches up
        # with a burst, so the rate holds however busy the machine is.
        started, due = time.monotonic(), 0.0
        while not self._stop.is_set():
            due += self.rng.expovariate(self.rate)
            if self._stop.wait(max(0.0, started + due - time.monotonic())):
                return
            self.give(1)


class Worker:
    """The real consumer in a thread, stepping as `manage.py consume` runs it (Consumer.run's loop),
    with a gate between its steps for `lose_redis`."""

    def __init__(self, consumer: Consumer):
        self.consumer = consumer
        self.errors: list[BaseException] = []
        self._gate = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="consumer")

    def start(self) -> Worker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.consumer.stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        assert not self._thread.is_alive(), "the consumer did not stop"
        assert not self.errors, self.errors

    def lose_redis(self, redis) -> None:
        """Redis loses everything (FLUSHALL) between two steps of the consumer, which goes on once
        its next step checks the campaigns' state (every MAINTAIN_SECONDS).

        Not at any instant: a consumer that writes its shard health before it notices the loss
        re-creates the campaign's meta hash without a generation, and never recovers (a bug of the
        ingestion core, shown by tests/ingest/test_state_loss.py).
        """
        with self._gate:
            redis.flushdb()
            time.sleep(MAINTAIN_SECONDS + 0.1)

    def _run(self) -> None:
        consumer = self.consumer
        try:
            while not consumer.stop.is_set():
                with self._gate:
                    pause = consumer.step()
                consumer.stop.wait(pause)
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.errors.append(exc)
        finally:
            consumer.scans.stop_all()
            consumer.release_all()
