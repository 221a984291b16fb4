"""Table scans: a rebuild's generation filled from a parallel Scan of the table, page by page.

Each page is applied in one script together with its segment's new position, fenced by the
campaign's scan lease; see Scanner. run_backfill runs a scan's segments on threads (DynamoDB
parallel Scan); ThreadedScans runs one such scan per campaign for a consumer.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from .config import CampaignConfig
from .metrics import MetricSpec, item_contribution
from .rebuild import Generations, RebuildAbandoned, SegmentProgress, progress_from_meta
from .records import RecordError, decode_image, item_key_digest
from .store import (
    SCAN_LEASE,
    ApplyResult,
    ItemChange,
    Store,
    apply_what_fits,
    building_is,
    scan_done_field,
    scan_plan_field,
    scan_position_field,
)
from .streams import TRANSIENT_CODES, USABLE_VIEW_TYPES, StreamReader, error_code
from .tables import ScanPage, TableReader

log = logging.getLogger(__name__)


class ScanRefused(RuntimeError):
    """The table cannot be scanned into a generation yet (it has no usable stream)."""


def scanned_changes(
    items: list[dict[str, Any]], specs: tuple[MetricSpec, ...], key_names: tuple[str, ...], gen: str
) -> tuple[list[ItemChange], int]:
    changes: list[ItemChange] = []
    rejected = 0
    for raw in items:
        try:
            item = decode_image(raw)
            keys = {name: item[name] for name in key_names}
            entries = item_contribution(specs, item)
        except (RecordError, KeyError):
            rejected += 1
            entries = []
            try:
                keys = {name: decode_image({name: raw[name]})[name] for name in key_names}
            except (RecordError, KeyError):
                continue
        changes.append(ItemChange(item_key_digest(keys), "", {gen: entries}))
    return changes, rejected


class Scanner:
    """One scan of a campaign's table into the generation being built, a page at a time.

    Each page is applied in one script together with its segment's new position, and only if the
    scanner still holds the campaign's scan lease (fenced, like a shard's), the generation is still
    the one being built and the segment is still where this scanner left it. So a scanner that was
    paused, lost its lease, or outlived a Redis failover or loss can never write: it stops, and the
    next scanner resumes from what Redis holds. Segments can be scanned in parallel (threads).
    """

    def __init__(
        self,
        *,
        store: Store,
        config: CampaignConfig,
        owner: str,
        stop: threading.Event | None = None,
        on_page: Callable[[SegmentProgress], None] | None = None,
        retries: int = 8,
    ):
        self.store, self.config, self.owner = store, config, owner
        self.retries = retries  # throttled Scan calls retried here, with backoff (0: raise at once)
        self.stop = stop or threading.Event()
        self.on_page = on_page
        self.fence: int | None = None
        self.gen = ""
        self.specs: tuple[MetricSpec, ...] = ()
        self.key_names: tuple[str, ...] = ()
        self.segments: list[SegmentProgress] = []
        self.positions: dict[int, str] = {}  # segment -> its position as stored in Redis
        self.reader: TableReader | None = None
        self.next_segment = 0

    # --- the lease ----------------------------------------------------------------------------
    def start(self) -> bool:
        """Take the scan lease and load where the build stands. False if another scanner holds the
        lease, or nothing is being built (then there is nothing to scan)."""
        fence = self.store.lease(self.config.id, SCAN_LEASE, "take", self.owner)
        if fence is None:
            return False
        self.fence = fence
        meta = self.store.campaign_meta(self.config.id)  # only now: until held, others could move it
        if not meta.stream_arn and not self.record_stream():
            self.release()
            raise ScanRefused(
                f"table {self.config.table_name} has no usable stream: enable NEW_AND_OLD_IMAGES"
            )
        progress = progress_from_meta(meta)
        specs = Generations.from_meta(meta).specs.get(progress.gen) if progress else None
        if progress is None or specs is None:
            self.release()
            return False
        self.gen, self.specs, self.segments = progress.gen, specs, progress.segments
        self.positions = {s.segment: meta.scan_position(self.gen, s.segment) for s in self.segments}
        config = self.config
        self.reader = TableReader(
            table=config.table_name, region=config.region, endpoint_url=config.endpoint_url
        )
        info = self.reader.describe()
        self.key_names = info.key_names
        if not progress.estimate:
            plan = {
                "segments": len(self.segments),
                "estimate": info.item_count,
                "started": progress.started_at,
            }
            self.store.set_meta(config.id, **{scan_plan_field(self.gen): json.dumps(plan)})
        return True

    def record_stream(self) -> bool:
        """Scanned images are exact only merged with every later write, read from the stream: a scan
        starts only once the table's stream is on and recorded (as a consumer's discovery records it;
        writes from before are in the table). False if the table has no usable stream."""
        config = self.config
        info = StreamReader(
            table=config.table_name, region=config.region, endpoint_url=config.endpoint_url
        ).describe()
        if not info.arn or info.view_type not in USABLE_VIEW_TYPES:
            return False
        return self.store.record_stream(config.id, info.arn)

    def renew(self) -> bool:
        return self.fence is not None and (
            self.store.lease(self.config.id, SCAN_LEASE, "renew", self.owner, self.fence) is not None
        )

    def release(self) -> None:
        if self.fence is not None:
            self.store.lease(self.config.id, SCAN_LEASE, "release", self.owner, self.fence)
            self.fence = None

    # --- scanning -----------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return all(s.done for s in self.segments)

    def step(self) -> bool:
        """Scan one page of the next unfinished segment (round robin); False once all are done."""
        pending = [s for s in self.segments if not s.done]
        if not pending:
            return False
        segment = pending[self.next_segment % len(pending)]
        self.next_segment += 1
        self.page(segment)
        return True

    def scan_segment(self, segment: SegmentProgress) -> None:
        while not segment.done and not self.stop.is_set():
            self.page(segment)

    def page(self, segment: SegmentProgress) -> None:
        """Read and apply the segment's next page. Raises RebuildAbandoned when this scan must end."""
        page = self.read_page(segment)
        changes, rejected = scanned_changes(page.items, self.specs, self.key_names, self.gen)
        after = SegmentProgress(
            segment.segment,
            segment.items + len(page.items),
            segment.rejected + rejected,
            page.last_key,
            page.last_key is None,
        )
        rejected_before = after.rejected

        def apply(batch: list[ItemChange], aside: list[int]) -> ApplyResult:
            # (A change set aside for overflow counts as rejected, like an unusable item.)
            after.rejected = rejected_before + len(aside)
            return self.store.apply_batch(
                self.config.id,
                changes=batch,
                gens=(self.gen,),
                expect={
                    **building_is(self.gen),
                    scan_position_field(self.gen, segment.segment): self.positions[segment.segment],
                },
                lease=(SCAN_LEASE, self.owner, self.fence),
                stats={scan_position_field(self.gen, segment.segment): after.to_json()},
            )

        result, _ = apply_what_fits(apply, changes)
        self.landed(segment, after, result)

    def landed(self, segment: SegmentProgress, after: SegmentProgress, result: ApplyResult) -> None:
        """The page is written (the segment moves on), or this scan ends."""
        if result.status == "corrupt":
            reason = f"generation {self.gen} held a damaged aggregate ({result.detail})"
            self.store.drop_generation(self.config.id, self.gen, reason)
        if result.status != "ok":
            self.stop.set()
            raise RebuildAbandoned(
                f"scan of generation {self.gen} ended: {result.status} {result.detail}".strip()
            )
        self.positions[segment.segment] = after.to_json()
        segment.items, segment.rejected = after.items, after.rejected
        segment.last_key, segment.done = after.last_key, after.done
        if self.on_page:
            self.on_page(segment)

    def read_page(self, segment: SegmentProgress) -> ScanPage:
        failures = 0
        while True:
            try:
                return self.reader.scan_page(
                    segment=segment.segment,
                    total_segments=len(self.segments),
                    start_key=segment.last_key,
                    limit=settings.INGEST_SCAN_PAGE,
                )
            except Exception as exc:
                if error_code(exc) not in TRANSIENT_CODES or failures >= self.retries or self.stop.is_set():
                    raise
                failures += 1
                delay = min(5.0, 0.1 * 2**failures) * random.uniform(0.5, 1.0)
                log.info(
                    "scan segment %s throttled (%s); retry in %.2fs", segment.segment, error_code(exc), delay
                )
                self.stop.wait(delay)

    def finish(self) -> bool:
        """Once every segment is done, record when the scan ended (the swap waits for the stream to
        be read past that moment). True when the scan is complete."""
        if not self.done:
            return False
        # Every segment must still be where this scanner finished it: a failover may have lost pages.
        positions = {scan_position_field(self.gen, segment): raw for segment, raw in self.positions.items()}
        result = self.store.apply_batch(
            self.config.id,
            gens=(),
            expect={**building_is(self.gen), scan_done_field(self.gen): "", **positions},
            lease=(SCAN_LEASE, self.owner, self.fence),
            stats={scan_done_field(self.gen): time.time()},
        )
        if result.status == "gens_changed" and result.detail == scan_done_field(self.gen):
            return True  # another scanner finished it first
        if result.status != "ok":
            return False
        items = sum(s.items for s in self.segments)
        log.info("campaign %s: scan of generation %s done (%s items)", self.config.slug, self.gen, items)
        return True


def run_backfill(
    *,
    store: Store,
    config: CampaignConfig,
    owner: str,
    stop: threading.Event,
    on_page: Callable[[SegmentProgress], None] | None = None,
) -> bool:
    """Scan the table into the generation being built, resuming each segment where it stopped.

    Returns True when the scan is complete, False if another scanner holds the campaign or it was
    stopped. Segments run on threads (DynamoDB parallel Scan). `stop` belongs to this scan alone.
    """
    scanner = Scanner(store=store, config=config, owner=owner, stop=stop, on_page=on_page)
    if not scanner.start():
        return False
    try:
        failure = scan_in_parallel(scanner)
        abandoned = [exc for exc in failure if isinstance(exc, RebuildAbandoned)]
        if abandoned:
            log.info("campaign %s: %s", config.slug, abandoned[0])
            return False  # replaced, or Redis lost it: the next scan resumes from what Redis holds
        if failure:
            raise failure[0]
        return not stop.is_set() and scanner.finish()
    finally:
        scanner.release()


def scan_in_parallel(scanner: Scanner) -> list[BaseException]:
    """Each unfinished segment on a thread, the lease renewed meanwhile; what the threads raised."""
    failure: list[BaseException] = []

    def scan(segment: SegmentProgress) -> None:
        try:
            scanner.scan_segment(segment)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            failure.append(exc)
            scanner.stop.set()

    slug = scanner.config.slug
    threads = [
        threading.Thread(target=scan, args=(s,), daemon=True, name=f"scan-{slug}-{s.segment}")
        for s in scanner.segments
        if not s.done
    ]
    for thread in threads:
        thread.start()
    renew_every = settings.INGEST_LEASE_SECONDS / 3
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=renew_every / len(threads))
        if not scanner.renew():
            scanner.stop.set()  # someone else took over (we were too slow): stop writing
    return failure


@dataclass
class ScanJob:
    thread: threading.Thread
    stop: threading.Event


class ThreadedScans:
    """The consumer's scans: one thread per campaign being rebuilt, each with its own stop, so a scan
    that failed or was replaced never stops the next one."""

    def __init__(self, store: Store, owner: str):
        self.store, self.owner = store, owner
        self.jobs: dict[int, ScanJob] = {}

    def ensure(
        self, config: CampaignConfig, on_page: Callable[[SegmentProgress], None] | None = None
    ) -> None:
        job = self.jobs.get(config.id)
        if job is not None and job.thread.is_alive():
            return
        if self.store.lease_holder(config.id, SCAN_LEASE) not in (None, self.owner):
            return  # another consumer (or `manage.py backfill`) is scanning

        stop = threading.Event()

        def scan() -> None:
            try:
                run_backfill(store=self.store, config=config, owner=self.owner, stop=stop, on_page=on_page)
            except (RebuildAbandoned, ScanRefused) as exc:
                log.info("backfill of %s ended: %s", config.slug, exc)
            except Exception:  # noqa: BLE001 - logged; the next maintain() starts another scan
                log.exception("backfill of %s failed; it will resume", config.slug)

        thread = threading.Thread(target=scan, daemon=True, name=f"backfill-{config.slug}")
        self.jobs[config.id] = ScanJob(thread, stop)
        thread.start()

    def stop_all(self) -> None:
        for job in self.jobs.values():
            job.stop.set()
