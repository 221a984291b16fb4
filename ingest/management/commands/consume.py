"""Read every active campaign's stream in this process for a while: the Celery task's work, without
Celery (for a single-host setup, a debugging session, or tests that SIGKILL worker processes)."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from ingest.consumer import Consumer, settle_heap


class Command(BaseCommand):
    help = "Consume the DynamoDB streams of all active campaigns (SIGTERM finishes the batch in flight)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--seconds",
            type=float,
            default=settings.INGEST_CONSUMER_SECONDS,
            help="How long to run before exiting (default INGEST_CONSUMER_SECONDS).",
        )
        parser.add_argument(
            "--id",
            default=None,
            help="Consumer id for logs and leases; must be unique to this process "
            "(a restarted process must not reuse it). Default: random.",
        )

    def handle(self, *args, seconds: float, id: str | None, **options) -> None:  # noqa: A002
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            # Finish the batch in flight, commit it, release the leases, exit.
            signal.signal(signum, lambda *_: stop.set())
        settle_heap()
        Consumer(consumer_id=id, stop=stop).run(seconds=seconds)
