"""Backfill and rebuild: build a campaign's aggregates from a parallel Scan into a new generation.

A generation is a complete set of aggregate keys ({fr:C}:g<N>:*) with the metric definitions it
was built with (meta "specs:<N>"). Screens read the live generation only. A rebuild fills a new
generation from a Scan while the stream consumer applies every record to both generations; when
the scan is done and the stream is caught up, the new generation is swapped in atomically and the
old one deleted. See docs/correctness.md for why the merge of scanned items and stream records is
exact.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from fundraiser.selectors import CampaignConfig

from .metrics import MetricSpec, item_contribution
from .records import RecordError, decode_image, item_key_digest
from .store import ItemChange, Store
from .streams import TRANSIENT_CODES, error_code
from .tables import TableReader

log = logging.getLogger(__name__)


def specs_json(specs: tuple[MetricSpec, ...]) -> str:
    return json.dumps([asdict(spec) for spec in specs], sort_keys=True, separators=(",", ":"))


def specs_from_json(raw: str) -> tuple[MetricSpec, ...]:
    return tuple(
        MetricSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        for d in json.loads(raw)
    )


@dataclass
class SegmentProgress:
    segment: int
    items: int = 0
    rejected: int = 0
    last_key: dict[str, Any] | None = None
    done: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {"items": self.items, "rejected": self.rejected, "key": self.last_key, "done": self.done},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, segment: int, raw: str | None) -> SegmentProgress:
        if not raw:
            return cls(segment)
        data = json.loads(raw)
        return cls(segment, data["items"], data.get("rejected", 0), data["key"], data["done"])


@dataclass
class BuildProgress:
    gen: str
    segments: list[SegmentProgress]
    estimate: int
    started_at: float

    @property
    def items(self) -> int:
        return sum(s.items for s in self.segments)

    @property
    def done(self) -> bool:
        return all(s.done for s in self.segments)


def build_progress(store: Store, campaign_id: int) -> BuildProgress | None:
    """Where the campaign's rebuild stands, read from Redis (None when nothing is being built)."""
    meta = store.meta(campaign_id)
    gen = meta.get("building")
    if not gen:
        return None
    plan = json.loads(meta.get(f"scan:{gen}", "{}") or "{}")
    total = int(plan.get("segments", 1))
    segments = [SegmentProgress.from_json(i, meta.get(f"scan:{gen}:{i}")) for i in range(total)]
    return BuildProgress(
        gen=gen,
        segments=segments,
        estimate=int(plan.get("estimate", 0)),
        started_at=float(plan.get("started", time.time())),
    )


def scan_segment(
    *,
    store: Store,
    reader: TableReader,
    config: CampaignConfig,
    gen: str,
    specs: tuple[MetricSpec, ...],
    key_names: tuple[str, ...],
    total_segments: int,
    progress: SegmentProgress,
    stop: threading.Event,
    on_page: Callable[[SegmentProgress], None] | None = None,
) -> None:
    """Scan one segment from where it stopped, applying each page atomically with its progress."""
    failures = 0
    while not progress.done and not stop.is_set():
        try:
            page = reader.scan_page(
                segment=progress.segment,
                total_segments=total_segments,
                start_key=progress.last_key,
                limit=settings.INGEST_SCAN_PAGE,
            )
        except Exception as exc:
            if error_code(exc) not in TRANSIENT_CODES or failures >= 8:
                raise
            failures += 1
            delay = min(5.0, 0.1 * 2**failures) * random.uniform(0.5, 1.0)
            log.info(
                "scan segment %s throttled (%s); retry in %.2fs", progress.segment, error_code(exc), delay
            )
            stop.wait(delay)
            continue
        failures = 0
        changes, rejected = scanned_changes(page.items, specs, key_names, gen)
        progress.items += len(page.items)
        progress.rejected += rejected
        progress.last_key = page.last_key
        progress.done = page.last_key is None
        live = store.meta(config.id).get("gen", "0")
        result = store.apply_batch(
            config.id,
            changes=changes,
            gens=(gen,),
            expect=(live, gen),
            stats={f"scan:{gen}:{progress.segment}": progress.to_json()},
        )
        if result.status != "ok":
            raise RebuildAbandoned(f"rebuild of generation {gen} ended: {result.status}")
        if on_page:
            on_page(progress)


class RebuildAbandoned(RuntimeError):
    """The generation being built was replaced or dropped (Redis lost it, or a newer rebuild)."""


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


@dataclass(frozen=True)
class Generations:
    """Which generations a batch must be applied to, with each one's metric definitions."""

    live: str  # "0" when nothing is live (new campaign, or Redis lost its data)
    building: str  # "" when nothing is being built
    specs: dict[str, tuple[MetricSpec, ...]]
    specs_raw: dict[str, str]

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> Generations:
        live, building = meta.get("gen", "0"), meta.get("building", "")
        raw = {
            gen: meta[f"specs:{gen}"]
            for gen in (live, building)
            if gen not in ("", "0") and f"specs:{gen}" in meta
        }
        return cls(live, building, {gen: specs_from_json(r) for gen, r in raw.items()}, raw)

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(gen for gen in (self.live, self.building) if gen in self.specs)

    @property
    def expect(self) -> tuple[str, str]:
        return (self.live, self.building)

    def needs_rebuild_for(self, wanted: str) -> bool:
        """True when neither the live nor the building generation has these definitions."""
        return wanted not in (self.specs_raw.get(self.live), self.specs_raw.get(self.building))


def rebuild_start(
    *, store: Store, config: CampaignConfig, reason: str, estimate: int = 0, replace: bool = False
) -> str:
    """Begin (or keep) building a generation with the campaign's current metric definitions.

    replace: start afresh even if a generation of these definitions is being built (it missed
    records, e.g. the stream trimmed them).
    """
    plan = json.dumps(
        {"segments": settings.INGEST_SCAN_SEGMENTS, "estimate": estimate, "started": time.time()}
    )
    gen = store.start_generation(
        config.id, specs=specs_json(config.specs), plan=plan, reason=reason, replace=replace
    )
    log.warning("campaign %s: building generation %s (%s)", config.slug, gen, reason)
    return gen


def building_started(meta: dict[str, str]) -> float:
    gen = meta.get("building")
    if not gen:
        return 0.0
    return float(json.loads(meta.get(f"scan:{gen}", "{}") or "{}").get("started", 0))


def scan_done_at(meta: dict[str, str], gen: str) -> float | None:
    raw = meta.get(f"scan_done:{gen}")
    return float(raw) if raw else None


class ScanLease:
    """At most one scanner per campaign; a killed scanner's lease lapses and another resumes."""

    def __init__(self, store: Store, campaign_id: int, owner: str, ttl: float | None = None):
        self.redis, self.owner = store.redis, owner
        self.ttl_ms = int((ttl or settings.INGEST_LEASE_SECONDS) * 1000)
        self.key = f"{store.base(campaign_id)}:scanlease"

    def take(self) -> bool:
        if self.redis.set(self.key, self.owner, nx=True, px=self.ttl_ms):
            return True
        return self.renew()

    def renew(self) -> bool:
        # Compare-and-extend in one step: a lapsed lease someone else took is not ours to extend.
        script = (
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
        )
        return bool(self.redis.eval(script, 1, self.key, self.owner, self.ttl_ms))

    def release(self) -> None:
        script = (
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('DEL', KEYS[1]) else return 0 end"
        )
        self.redis.eval(script, 1, self.key, self.owner)

    def held_by_someone(self) -> bool:
        return bool(self.redis.exists(self.key))

    def held_by_another(self) -> bool:
        holder = self.redis.get(self.key)
        return holder is not None and holder != self.owner


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
    stopped. Segments run on threads (DynamoDB parallel Scan).
    """
    lease = ScanLease(store, config.id, owner)
    if not lease.take():
        return False
    try:
        progress = build_progress(store, config.id)
        if progress is None:
            return True
        gen = progress.gen
        specs = Generations.from_meta(store.meta(config.id)).specs.get(gen)
        if specs is None:
            return False
        reader = TableReader(table=config.table_name, region=config.region, endpoint_url=config.endpoint_url)
        info = reader.describe()
        if not progress.estimate:
            store.set_meta(
                config.id,
                **{
                    f"scan:{gen}": json.dumps(
                        {
                            "segments": len(progress.segments),
                            "estimate": info.item_count,
                            "started": progress.started_at,
                        }
                    )
                },
            )
        failure: list[BaseException] = []

        def segment_worker(segment: SegmentProgress) -> None:
            try:
                scan_segment(
                    store=store,
                    reader=reader,
                    config=config,
                    gen=gen,
                    specs=specs,
                    key_names=info.key_names,
                    total_segments=len(progress.segments),
                    progress=segment,
                    stop=stop,
                    on_page=on_page,
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                failure.append(exc)
                stop.set()

        threads = [
            threading.Thread(
                target=segment_worker, args=(s,), daemon=True, name=f"scan-{config.slug}-{s.segment}"
            )
            for s in progress.segments
            if not s.done
        ]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=lease.ttl_ms / 3000 / len(threads))
            if not lease.renew():
                stop.set()  # someone else took over (we were too slow): stop writing
        if failure:
            raise failure[0]
        finished = build_progress(store, config.id)
        if finished is None or finished.gen != gen or not finished.done:
            return False
        store.redis.hsetnx(store.meta_key(config.id), f"scan_done:{gen}", str(time.time()))
        log.info("campaign %s: scan of generation %s done (%s items)", config.slug, gen, finished.items)
        return True
    finally:
        lease.release()
