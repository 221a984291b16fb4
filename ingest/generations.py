"""A campaign's generations, kept right by each consumer: lost state noticed and healed, rebuilds
started and scanned, a finished generation swapped in once the stream has caught up with it.
See docs/correctness.md ("Generations")."""

from __future__ import annotations

import logging
import time

from . import ports
from .adjustments import apply_adjustments, include_in_building
from .config import CampaignConfig
from .rebuild import Generations, build_progress, building_started, rebuild_start, specs_json
from .runs import CampaignRun, Worker, ready
from .store import CampaignMeta, Store, stream_key
from .streams import Shard, StreamReader

log = logging.getLogger(__name__)

MAINTAIN_SECONDS = 1.0  # how often each campaign's state is checked (lost data, rebuilds, swaps)
SWEEP_SECONDS = 60.0  # how often old tombstones are dropped (see store.TOMBSTONE_SECONDS)
SWEEP_BATCH, SWEEP_ROUNDS = 1000, 50  # tombstones per script call, calls per sweep at most
PROGRESS_SECONDS = 1.0  # screens hear how far a rebuild is at most this often
# How often every adjustment is counted again (a no-op unless one was missed: the web process that
# recorded it could not reach Redis, or died before it wrote).
ADJUSTMENTS_SECONDS = 5.0


class GenerationKeeper:
    def __init__(self, worker: Worker):
        self.worker = worker
        self.store = worker.store

    def due(self, run: CampaignRun) -> bool:
        return self.worker.clock() - run.maintained >= MAINTAIN_SECONDS

    def maintain(self, run: CampaignRun) -> None:
        """Keep the campaign's generations right: notice lost state, start rebuilds, run the
        backfill scan, and swap a finished generation in once the stream is caught up."""
        run.maintained = self.worker.clock()
        meta = self.store.campaign_meta(run.config.id)
        if not meta.exists:
            self.state_lost(run)
            meta = self.store.campaign_meta(run.config.id)
        reason = self.rebuild_reason(run, meta)
        if reason:
            replace = meta.status == "needs_rebuild"
            rebuild_start(store=self.store, config=run.config, reason=reason, replace=replace)
            meta = self.store.campaign_meta(run.config.id)
        run.gens = Generations.from_meta(meta)
        self.sweep(run)
        self.sync_adjustments(run)
        if not meta.building:
            return
        done_at = meta.scan_done_at(meta.building)
        if done_at is None:
            self.worker.scans.ensure(run.config, on_page=lambda _segment: self.report_progress(run))
        elif self.caught_up(run, meta, done_at) and self.adjustments_included(run, meta.building):
            self.swap(run, meta.building)

    def sync_adjustments(self, run: CampaignRun) -> None:
        """Count every adjustment again now and then: those already counted change nothing."""
        if self.worker.clock() - run.adjustments_synced < ADJUSTMENTS_SECONDS:
            return
        run.adjustments_synced = self.worker.clock()
        adjustments = self.worker.organizer.adjustments(run.config.id)
        if adjustments:
            apply_adjustments(store=self.store, config=run.config, adjustments=adjustments)

    def adjustments_included(self, run: CampaignRun, gen: str) -> bool:
        """Before a generation goes live, every adjustment recorded so far is counted in it; any
        recorded later is applied to it by whoever records it (it is being built: see
        docs/correctness.md, "Adjustments")."""
        adjustments = self.worker.organizer.adjustments(run.config.id)
        return include_in_building(store=self.store, config=run.config, gen=gen, adjustments=adjustments)

    def rebuild_reason(self, run: CampaignRun, meta: CampaignMeta) -> str:
        """Why a new generation must be built now ("" if none must)."""
        gens = Generations.from_meta(meta)
        if gens.needs_rebuild_for(specs_json(run.config.specs)):
            return (
                "metric definitions changed"
                if gens.live != "0"
                else meta.rebuild_reason or "no aggregates yet"
            )
        if meta.status == "needs_rebuild" and (
            not gens.building or meta.rebuild_requested_at > building_started(meta)
        ):
            # Records were lost to the stream: a generation already being built missed them too.
            return meta.rebuild_reason or "needs a rebuild"
        return ""

    def sweep(self, run: CampaignRun) -> None:
        """Drop tombstones older than the stream's retention, a bounded share each minute (enough
        for about 800 deletes a second)."""
        if self.worker.clock() - run.swept < SWEEP_SECONDS:
            return
        run.swept = self.worker.clock()
        for _ in range(SWEEP_ROUNDS):
            if self.store.sweep_tombstones(run.config.id, most=SWEEP_BATCH) < SWEEP_BATCH:
                break

    def report_progress(self, run: CampaignRun) -> None:
        """Tell screens how far the rebuild is (at most once a second), while nothing is live."""
        now = time.monotonic()
        if now - run.progress_sent < PROGRESS_SECONDS:
            return
        run.progress_sent = now
        meta = self.store.campaign_meta(run.config.id)
        progress = build_progress(self.store, run.config.id)
        if progress is None or meta.live != "0":
            return  # screens keep showing the live numbers: nothing to say
        ports.publish(
            ports.RebuildProgress(run.config, meta.epoch, progress.items, progress.estimate, progress.done)
        )

    def state_lost(self, run: CampaignRun) -> None:
        """The campaign's meta hash is gone: Redis restarted empty, was flushed or evicted it."""
        config = run.config
        if run.gens is not None:
            log.error("campaign %s: its state is missing from Redis; rebuilding", config.slug)
        self.store.ensure_meta(config.id)
        reason = "aggregates were lost from Redis" if run.gens is not None else "no aggregates yet"
        self.store.set_rebuild_reason(config.id, reason)
        # Leases and checkpoints went with it: forget the shards (no lease to release) and take
        # them again, reading each from its start.
        run.held.clear()
        run.stream_arn = None
        run.discover_soon()
        ports.publish(ports.Recalculating(config, self.store.campaign_meta(config.id).epoch))

    def caught_up(self, run: CampaignRun, meta: CampaignMeta, since: float) -> bool:
        """Every readable shard has been read to its tip after the scan finished."""
        checkpoints = self.store.checkpoints(run.config.id, run.stream)
        return tips_read_since(meta, run.shards, checkpoints, since)

    def swap(self, run: CampaignRun, gen: str) -> None:
        config = run.config
        version = self.store.swap_generation(config.id, gen)
        if version is None:
            return  # another consumer swapped it, or a newer rebuild replaced it
        log.warning("campaign %s: generation %s is live", config.slug, gen)
        run.gens = Generations.from_meta(self.store.campaign_meta(config.id))
        snapshot = self.store.snapshot(config.id, config.displays)
        ports.publish(ports.MetricsChanged(config, snapshot.version, snapshot.epoch, snapshot.metrics))


def tips_read_since(
    meta: CampaignMeta, shards: dict[str, Shard], checkpoints: dict[str, str], since: float
) -> bool:
    """Every readable shard (not finished, its parent drained) was read to its tip at or after
    `since` (meta `tip:<shard>`, written by every batch that found its shard caught up): so every
    record written before `since` is counted. False when no shard is known."""
    if not shards:
        return False
    readable = [s for s in shards.values() if ready(s, shards, checkpoints)]
    return all(meta.tip_read_at(s.shard_id) >= since for s in readable)


def stream_read_since(store: Store, config: CampaignConfig, since: float) -> bool:
    """The campaign's stream, as the table lists it now, was read to its tip after `since` by the
    consumers (for a reader outside them: "Verify totals"). One DescribeTable, one DescribeStream."""
    reader = StreamReader(table=config.table_name, region=config.region, endpoint_url=config.endpoint_url)
    arn = reader.describe().arn
    meta = store.campaign_meta(config.id)
    if not arn or arn != meta.stream_arn:
        return False
    shards = {shard.shard_id: shard for shard in reader.list_shards(arn)}
    return tips_read_since(meta, shards, store.checkpoints(config.id, stream_key(arn)), since)
