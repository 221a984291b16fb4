"""The stream consumer: a short loop over every active campaign.

One Consumer serves every active campaign. Each step it keeps its leases alive, reloads the
campaigns now and then, and per campaign: discovers shards (ingest/shards.py), keeps its
generations right (ingest/generations.py) and reads and applies each held shard's next batch
(ingest/batches.py). Every write is one script that either lands whole or not at all, so a crash at
any point replays at most the batch in flight, and a replay changes nothing.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings

from . import ports
from .batches import MAX_BACKOFF_SECONDS, BatchApplier
from .config import CampaignConfig
from .generations import GenerationKeeper
from .readahead import reads_from_settings
from .runs import CampaignRun, Worker
from .scans import ThreadedScans
from .shards import ShardKeeper, discover_due
from .store import Store, stream_key
from .streams import StreamReader

__all__ = ["Consumer", "settle_heap", "stream_key"]  # (stream_key: tests name checkpoint keys with it)

log = logging.getLogger(__name__)
PENDING = "pending-"  # the id prefix of a consumer task queued but not yet started (ingest/tasks.py)


class Consumer:
    def __init__(
        self,
        *,
        store: Store | None = None,
        consumer_id: str | None = None,
        load_configs: Callable[[], list[CampaignConfig]] | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        scans: Any = None,
        reads: Any = None,
        organizer: ports.OrganizerInput | None = None,
        yields: bool = False,
    ):
        store = store or Store()
        self.id = consumer_id or f"consumer-{uuid.uuid4().hex[:12]}"
        # Table scans for rebuilds and reads ahead: threads by default; the fault-schedule tests
        # step them instead.
        scans = scans or ThreadedScans(store, self.id)
        reads = reads or reads_from_settings(settings.INGEST_READ_AHEAD_THREADS)
        self.worker = Worker(
            store,
            self.id,
            clock,
            scans,
            settings.INGEST_LEASE_SECONDS,
            reads,
            organizer or ports.OrganizerInput(),
        )
        self.shards = ShardKeeper(self.worker)
        self.generations = GenerationKeeper(self.worker)
        self.batches = BatchApplier(self.worker, self.shards, self.generations)
        self.load_configs = load_configs or ports.active_configs
        self.stop = stop or threading.Event()
        self.runs: dict[int, CampaignRun] = {}
        self.configs_loaded = -math.inf
        self.kept_alive_at = -math.inf
        # A Celery consumer task yields when more run than INGEST_CONSUMERS (see is_surplus);
        # `manage.py consume` processes do not: the operator started each on purpose.
        self.yields = yields
        self.surplus = False
        self.beats_seen: dict[str, float] = {}  # the consumers' heartbeats at the last check

    @property
    def scans(self) -> Any:
        return self.worker.scans

    def clock(self) -> float:
        return self.worker.clock()

    # --- the loop -----------------------------------------------------------------------------
    def run(self, *, seconds: float) -> None:
        deadline = self.clock() + seconds
        log.info("%s starting", self.id)
        try:
            failures = 0
            while not self.stopping() and self.clock() < deadline:
                pause, failures = self.step_or_wait(failures)
                if pause > 0:
                    self.stop.wait(pause)
        finally:
            self.shut_down()

    def stopping(self) -> bool:
        """Asked to stop (SIGTERM), or yielding to the consumers before it (is_surplus)."""
        return self.stop.is_set() or self.surplus

    def step_or_wait(self, failures: int) -> tuple[float, int]:
        """One step; if Redis failed (unreachable, failing over), how long to wait for it. Nothing
        was half written (every write is one script): carry on from what Redis holds."""
        try:
            return self.step(), 0
        except redis.RedisError as exc:
            pause = min(MAX_BACKOFF_SECONDS, 0.2 * 2 ** (failures + 1))
            log.warning("%s: Redis failed (%s); retrying in %.1fs", self.id, exc, pause)
            self.forget_positions()
            return pause, failures + 1

    def shut_down(self) -> None:
        if self.surplus:
            log.info("%s yields: more than %d consumers run", self.id, settings.INGEST_CONSUMERS)
        self.scans.stop_all()
        self.worker.reads.close()
        try:
            self.release_all()
        except redis.RedisError:
            log.warning("%s could not release its leases; they expire", self.id)
        log.info("%s stopped", self.id)

    def step(self) -> float:
        """Do whatever is due; return how long to wait before the next step."""
        now = self.clock()
        self.keep_alive()
        if now - self.configs_loaded >= settings.INGEST_DISCOVER_SECONDS:
            self.reload_configs()
        next_due = now + settings.INGEST_IDLE_POLL_SECONDS
        for run in list(self.runs.values()):
            if self.stopping():
                break
            next_due = min(next_due, self.step_campaign(run))
        return max(0.0, next_due - self.clock())

    def step_campaign(self, run: CampaignRun) -> float:
        """Discover, maintain and read one campaign; returns when its next read is due. A failure
        of one campaign (a bug, a surprise) is logged and retried later: the others go on."""
        try:
            if discover_due(run, self.clock()):
                self.shards.discover(run)
            if self.generations.due(run):
                self.generations.maintain(run)
            return self.read_shards(run)
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception:
            log.exception("%s: campaign %s failed; retrying", self.id, run.config.slug)
            run.maintained = run.discovered = self.clock()  # both again after their interval
            return self.clock() + settings.INGEST_DISCOVER_SECONDS

    def read_shards(self, run: CampaignRun) -> float:
        next_due = math.inf
        for state in list(run.held.values()):
            if self.stopping():
                break
            self.keep_alive()
            if state.shard.shard_id not in run.held:
                continue  # its lease was lost
            if state.due <= self.clock():
                self.batches.poll(run, state)
            next_due = min(next_due, state.due)
        return next_due

    def keep_alive(self) -> None:
        """Heartbeat and renew the leases due for it. Called between reads, so that a step over many
        shards does not outlast the leases; a single read that does is refused by the fence."""
        if self.clock() - self.kept_alive_at < self.worker.lease_seconds / 6:
            return
        self.kept_alive_at = self.clock()
        self.worker.store.heartbeat_consumer(self.id, self.worker.lease_seconds)
        self.surplus = self.yields and self.is_surplus()
        for run in list(self.runs.values()):
            self.shards.renew_leases(run)

    def is_surplus(self) -> bool:
        """More consumers run than INGEST_CONSUMERS (a flush erased the heartbeats and the beat
        started another before this one wrote its own again): all but the first ones, in id order,
        yield, so that surplus consumers do not hold every worker thread and starve other tasks
        (a "Verify totals" run). Only consumers whose heartbeat moved since the last check count:
        a killed one, whose heartbeat has not run out yet, does not make the last one alive yield.
        Consumers still starting (pending) do not count: each checks for itself when it starts."""
        beats = self.worker.store.consumer_heartbeats()
        seen, self.beats_seen = self.beats_seen, beats
        ahead = [
            c
            for c, expires in beats.items()
            if c < self.id and not c.startswith(PENDING) and expires > seen.get(c, math.inf)
        ]
        return len(ahead) >= settings.INGEST_CONSUMERS

    def reload_configs(self) -> None:
        configs = {c.id: c for c in self.load_configs()}
        for campaign_id in set(self.runs) - set(configs):
            self.shards.release_campaign(self.runs.pop(campaign_id))
        for campaign_id, config in configs.items():
            run = self.runs.get(campaign_id)
            if run is not None and _source(run.config) == _source(config):
                run.config = config
                continue
            if run is not None:
                self.shards.release_campaign(run)
            reader = StreamReader(
                table=config.table_name, region=config.region, endpoint_url=config.endpoint_url
            )
            self.runs[campaign_id] = CampaignRun(config=config, reader=reader, discovered=-math.inf)
            self.worker.store.ensure_meta(campaign_id)
        self.configs_loaded = self.clock()

    def forget_positions(self) -> None:
        """Re-read every held shard's checkpoint from Redis before its next batch."""
        for run in self.runs.values():
            run.held.clear()
            run.discover_soon()
            run.heal_soon()

    def release_all(self) -> None:
        for run in self.runs.values():
            self.shards.release_campaign(run)
        self.worker.store.drop_consumer(self.id)


def settle_heap() -> None:
    """Move what start-up made (Django, botocore's service models...) out of the garbage collector's
    way: a backlog allocates about fifty thousand objects a batch, and each full collection would
    walk every long-lived object again. Entry points call this once, before their loop."""
    gc.collect()
    gc.freeze()


def _source(config: CampaignConfig) -> tuple[str, str, str]:
    return (config.table_name, config.region, config.endpoint_url)
