"""Build a campaign's aggregates from a parallel Scan of its table, with a progress bar.

Resumable: each segment's position is saved with every page it applies, so a killed run (or a
killed worker) continues where it stopped. The stream consumer keeps applying new records to the
generation being built and swaps it in once the scan is done and the stream caught up.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from ingest import ports
from ingest.rebuild import BuildProgress, build_progress, rebuild_start
from ingest.scans import run_backfill
from ingest.store import SCAN_LEASE, Store

BAR_WIDTH = 30


def progress_line(progress: BuildProgress, started: float, first_items: int) -> str:
    items = progress.items
    elapsed = max(time.monotonic() - started, 1e-6)
    rate = (items - first_items) / elapsed
    total = max(progress.estimate, items)
    fraction = 1.0 if progress.done else (items / total if total else 0.0)
    filled = int(BAR_WIDTH * min(fraction, 1.0))
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    if progress.done:
        eta = "done"
    elif rate > 0 and total > items:
        eta = f"ETA {max(0.0, (total - items) / rate):.0f}s"
    else:
        eta = "ETA --"
    segments = sum(s.done for s in progress.segments)
    return (
        f"[{bar}] {fraction:6.1%}  {items:,}/{total:,} items  {rate:,.0f} items/s  {eta}  "
        f"segments {segments}/{len(progress.segments)} done"
    )


class Command(BaseCommand):
    help = "Backfill (rebuild) a campaign's aggregates from its DynamoDB table, resumably."

    def add_arguments(self, parser) -> None:
        parser.add_argument("campaign", help="Campaign slug.")
        parser.add_argument(
            "--restart", action="store_true", help="Start a new generation even if one is being built."
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=60.0,
            help="Seconds to wait, after the scan, for the consumer to swap it in.",
        )

    def handle(self, *args, campaign: str, restart: bool, wait: float, **options) -> None:
        config = ports.campaign_by_slug(campaign)  # from the configuration app (ingest/ports.py)
        if config is None:
            raise CommandError(f"no campaign with slug {campaign!r}")
        store = Store()
        meta = store.ensure_meta(config.id)
        if restart or not meta.building:
            gen = rebuild_start(
                store=store, config=config, reason="requested with manage.py backfill", replace=restart
            )
        else:
            gen = meta.building
            self.stdout.write(f"Resuming the build of generation {gen}.")
        self.stdout.write(f"Scanning {config.table_name} into generation {gen} of {config.slug}.")
        self.scan(store, config, gen)
        self.await_swap(store, config, gen, wait)

    def scan(self, store: Store, config, gen: str) -> None:
        scan = BackgroundScan(store, config, gen)
        started = time.monotonic()
        first = build_progress(store, config.id)
        first_items = first.items if first else 0
        if first_items:
            self.stdout.write(f"Resuming: {first_items:,} items were scanned before.")
        time.sleep(0.2)  # let the worker try for the lease first
        if store.lease_holder(config.id, SCAN_LEASE) not in (None, scan.owner):
            self.stdout.write("Another scanner holds this campaign; following its progress.")
        try:
            self.follow(store, config, gen, scan, started, first_items)
        except KeyboardInterrupt:
            scan.interrupt()
            raise CommandError("interrupted: run the command again to resume") from None
        if "error" in scan.outcome:
            raise CommandError(f"backfill failed: {scan.outcome['error']} (run again to resume)")
        if "replaced" in scan.outcome:
            raise CommandError(f"generation {gen} was replaced by a newer rebuild")
        if "done" not in scan.outcome:
            raise CommandError("the scan stopped before the end (run the command again to resume)")
        self.stdout.write(f"Scan complete in {time.monotonic() - started:.1f}s.")

    def follow(
        self, store: Store, config, gen: str, scan: BackgroundScan, started: float, first: int
    ) -> None:
        """A progress line while the scan runs (redrawn in place on a terminal, once a second else)."""
        tty = sys.stdout.isatty()
        last_print = 0.0
        while scan.thread.is_alive():
            scan.thread.join(timeout=0.5)
            progress = build_progress(store, config.id)
            if progress is None or progress.gen != gen:
                break
            if tty or time.monotonic() - last_print >= 1.0 or not scan.thread.is_alive():
                line = progress_line(progress, started, first)
                self.stdout.write(("\r" + line) if tty else line, ending="" if tty else "\n")
                self.stdout.flush()
                last_print = time.monotonic()
        if tty:
            self.stdout.write("")

    def await_swap(self, store: Store, config, gen: str, wait: float) -> None:
        deadline = time.monotonic() + wait
        warned = False
        while time.monotonic() < deadline:
            meta = store.campaign_meta(config.id)
            if meta.live == gen and not meta.building:
                self.stdout.write(
                    self.style.SUCCESS(f"Generation {gen} is live: the screens show the rebuilt numbers.")
                )
                return
            if meta.building != gen:
                raise CommandError(f"generation {gen} was replaced by a newer rebuild")
            if not warned and not store.live_consumers():
                self.stdout.write(
                    self.style.WARNING(
                        "No stream consumer is running: start the worker (or manage.py consume) to "
                        "catch up with the stream and swap the new numbers in."
                    )
                )
                warned = True
            time.sleep(0.5)
        self.stdout.write(
            self.style.WARNING(
                f"The scan is done; generation {gen} goes live once the consumer has caught up."
            )
        )


class BackgroundScan:
    """The scan on a thread, resumed until it is complete, replaced, failed or interrupted. A scan
    that ended early (another scanner took over, Redis failed over) is simply tried again: each
    attempt resumes from what Redis holds."""

    def __init__(self, store: Store, config, gen: str):
        self.store, self.config, self.gen = store, config, gen
        self.owner = f"backfill-{os.getpid()}-{time.monotonic_ns()}"
        self.interrupted = threading.Event()
        self.outcome: dict[str, object] = {}
        self.attempt = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            while not self.interrupted.is_set():
                self.attempt = threading.Event()  # each attempt has its own stop
                if run_backfill(store=self.store, config=self.config, owner=self.owner, stop=self.attempt):
                    self.outcome["done"] = True
                    return
                current = build_progress(self.store, self.config.id)
                if current is None or current.gen != self.gen:
                    self.outcome["replaced"] = True
                    return
                self.interrupted.wait(1.0)  # another scanner holds it: watch, and take over if it dies
        except Exception as exc:  # noqa: BLE001 - reported by the command
            self.outcome["error"] = exc

    def interrupt(self) -> None:
        self.interrupted.set()
        self.attempt.set()
        self.thread.join(timeout=10)
