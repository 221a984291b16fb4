"""The stream consumer: leases shards, reads records, applies them to Redis, publishes changes.

One Consumer serves every active campaign. Per shard it holds a fenced lease (ingest/lua/lease.lua)
and writes aggregates together with the shard checkpoint in one script (ingest/lua/apply_batch.lua),
so a crash at any point replays at most the batch in flight, and a replay changes nothing.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings

from . import ports, ticker
from .config import CampaignConfig
from .metrics import item_contribution
from .rebuild import (
    Generations,
    ThreadedScans,
    build_progress,
    building_started,
    rebuild_start,
    scan_done_at,
    specs_json,
)
from .records import Change, RecordError, decode_record
from .store import END, START, ApplyResult, ItemChange, Position, Store, apply_what_fits, stream_key
from .streams import TRANSIENT_CODES, USABLE_VIEW_TYPES, Shard, StreamReader, error_code, error_text

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
RATE_WINDOW_SECONDS = 10.0  # records/s is averaged over this
MAINTAIN_SECONDS = 1.0  # how often each campaign's state is checked (lost data, rebuilds, swaps)
SWEEP_SECONDS = 60.0  # how often old tombstones are dropped (see store.TOMBSTONE_SECONDS)
SWEEP_BATCH, SWEEP_ROUNDS = 1000, 50  # tombstones per script call, calls per sweep at most
PROGRESS_SECONDS = 1.0  # screens hear how far a rebuild is at most this often
STREAM_PROBLEMS = ("no_stream", "bad_stream")  # statuses a later successful discovery clears
OVERFLOW_REASON = "amount too large: counting it would take a total past what can be kept exactly"


@dataclass
class ShardState:
    shard: Shard
    fence: int
    iterator: str | None = None
    checkpoint: str | None = None  # the stored checkpoint: last applied sequence, None at the start
    due: float = 0.0
    failures: int = 0
    renewed: float = 0.0
    last_created: float | None = None  # ApproximateCreationDateTime of the last applied record
    reported: float = 0.0  # when its health was last written
    reads: deque = field(default_factory=lambda: deque(maxlen=64))  # (time, records) per batch

    def health(self, *, behind: bool, records: int) -> str:
        """What /healthz and the admin show for this shard, as JSON: position, lag and rate."""
        now = time.time()
        self.reads.append((now, records))
        window = [(t, n) for t, n in self.reads if now - t <= RATE_WINDOW_SECONDS]
        self.reported = now
        return json.dumps(
            {
                "seq": self.checkpoint,
                "created": self.last_created,
                "read_at": now,
                "behind": behind,
                "rps": round(sum(n for _, n in window) / RATE_WINDOW_SECONDS, 1),
            }
        )


@dataclass
class CampaignRun:
    config: CampaignConfig
    reader: StreamReader
    stream_arn: str | None = None
    stream: str = ""
    shards: dict[str, Shard] = field(default_factory=dict)
    held: dict[str, ShardState] = field(default_factory=dict)
    discovered: float = 0.0
    gens: Generations | None = None
    maintained: float = -math.inf
    swept: float = -math.inf
    progress_sent: float = 0.0


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
    ):
        self.store = store or Store()
        self.id = consumer_id or f"consumer-{uuid.uuid4().hex[:12]}"
        self.load_configs = load_configs or ports.active_configs
        self.stop = stop or threading.Event()
        self.clock = clock
        self.runs: dict[int, CampaignRun] = {}
        self.lease_seconds = settings.INGEST_LEASE_SECONDS
        self.configs_loaded = -math.inf
        self.kept_alive_at = -math.inf
        # Table scans for rebuilds: threads by default; the fault-schedule tests step them instead.
        self.scans = scans or ThreadedScans(self.store, self.id)

    # --- main loop ----------------------------------------------------------------------------
    def run(self, *, seconds: float) -> None:
        deadline = self.clock() + seconds
        log.info("%s starting", self.id)
        failures = 0
        try:
            while not self.stop.is_set() and self.clock() < deadline:
                try:
                    pause = self.step()
                    failures = 0
                except redis.RedisError as exc:
                    # Redis unreachable or failing over: nothing was half written (every write is one
                    # script); wait and carry on from what Redis holds.
                    failures += 1
                    pause = min(MAX_BACKOFF_SECONDS, 0.2 * 2**failures)
                    log.warning("%s: Redis failed (%s); retrying in %.1fs", self.id, exc, pause)
                    self.forget_positions()
                if pause > 0:
                    self.stop.wait(pause)
        finally:
            self.scans.stop_all()
            try:
                self.release_all()
            except redis.RedisError:
                log.warning("%s could not release its leases; they expire", self.id)
            log.info("%s stopped", self.id)

    def forget_positions(self) -> None:
        """Re-read every held shard's checkpoint from Redis before its next batch."""
        for run in self.runs.values():
            for state in run.held.values():
                state.iterator = None
            run.held.clear()
            run.discovered = run.maintained = -math.inf

    def step(self) -> float:
        """Do whatever is due; return how long to wait before the next step."""
        now = self.clock()
        self.keep_alive()
        if now - self.configs_loaded >= settings.INGEST_DISCOVER_SECONDS:
            self.reload_configs()
        next_due = now + settings.INGEST_IDLE_POLL_SECONDS
        for run in list(self.runs.values()):
            if self.stop.is_set():
                break
            if self.clock() - run.discovered >= settings.INGEST_DISCOVER_SECONDS:
                self.discover(run)
            if self.clock() - run.maintained >= MAINTAIN_SECONDS:
                self.maintain(run)
            for state in list(run.held.values()):
                if self.stop.is_set():
                    break
                self.keep_alive()
                if state.shard.shard_id not in run.held:
                    continue  # its lease was lost
                if state.due <= self.clock():
                    self.poll(run, state)
                next_due = min(next_due, state.due)
        return max(0.0, next_due - self.clock())

    def keep_alive(self) -> None:
        """Heartbeat and renew the leases due for it. Called between reads, so that a step over many
        shards does not outlast the leases; a single read that does is refused by the fence."""
        if self.clock() - self.kept_alive_at < self.lease_seconds / 6:
            return
        self.kept_alive_at = self.clock()
        self.store.heartbeat_consumer(self.id, self.lease_seconds)
        for run in list(self.runs.values()):
            self.renew_leases(run)

    def reload_configs(self) -> None:
        configs = {c.id: c for c in self.load_configs()}
        for campaign_id in set(self.runs) - set(configs):
            self.release_campaign(self.runs.pop(campaign_id))
        for campaign_id, config in configs.items():
            run = self.runs.get(campaign_id)
            if run is None or _source(run.config) != _source(config):
                if run is not None:
                    self.release_campaign(run)
                reader = StreamReader(
                    table=config.table_name, region=config.region, endpoint_url=config.endpoint_url
                )
                self.runs[campaign_id] = CampaignRun(config=config, reader=reader, discovered=-math.inf)
                self.store.ensure_meta(campaign_id)
            else:
                run.config = config
        self.configs_loaded = self.clock()

    # --- shard discovery and leases -----------------------------------------------------------
    def discover(self, run: CampaignRun) -> None:
        run.discovered = self.clock()
        campaign_id = run.config.id
        try:
            info = run.reader.describe()
            if not info.arn:
                self.report(
                    run,
                    status="no_stream",
                    last_error=f"table {run.config.table_name} has no stream enabled",
                )
                return
            if info.view_type not in USABLE_VIEW_TYPES:
                self.report(
                    run,
                    status="bad_stream",
                    last_error=f"stream view type {info.view_type}: enable NEW_IMAGE or NEW_AND_OLD_IMAGES",
                )
                return
            # Redis, not memory, says which stream the campaign's state follows: it may have been
            # lost or failed over since this consumer last looked.
            known = self.store.meta(campaign_id).get("stream_arn")
            if info.arn != known:
                if not self.store.set_meta(campaign_id, stream_arn=info.arn, stream=stream_key(info.arn)):
                    run.maintained = -math.inf  # the campaign's state is gone: heal it first
                    return
                if known:
                    # The stream was disabled and enabled again: what was written in between never
                    # reached any stream, so only a scan of the table can count it.
                    self.needs_rebuild(run, f"the table's stream changed ({known} -> {info.arn})")
            if info.arn != run.stream_arn:
                self.release_campaign(run)
                run.stream_arn, run.stream = info.arn, stream_key(info.arn)
            # Checkpoints first: a shard checkpointed before the listing began existed then, so if
            # the listing lacks it, it has left the stream (shards never come back).
            checkpoints = self.store.checkpoints(campaign_id, run.stream)
            shards = run.reader.list_shards(info.arn)
        except redis.RedisError:
            raise
        except Exception as exc:  # noqa: BLE001 - any AWS failure is reported and retried
            self.report(run, last_error=f"discover: {error_text(exc)}")
            log.warning("discover %s failed: %s", run.config.slug, error_text(exc))
            return
        meta = self.store.meta(campaign_id)
        if meta.get("status") in STREAM_PROBLEMS:
            self.report(run, last_error="", status="live" if meta.get("gen", "0") != "0" else "recalculating")
        run.shards = {s.shard_id: s for s in shards}
        self.check_lineage(run, shards, checkpoints)
        # Every shard is recorded as soon as it is seen, read or not: one that leaves the stream
        # before it was read to its end is then known to have taken records nobody read.
        if (
            self.store.record_shards(
                campaign_id, run.stream, [s.shard_id for s in shards if s.shard_id not in checkpoints]
            )
            is None
        ):
            run.maintained = -math.inf
            return
        self.forget_vanished(run, checkpoints)
        ready = [s for s in shards if _ready(s, run.shards, checkpoints)]
        self.balance(run, ready)

    def check_lineage(self, run: CampaignRun, shards: list[Shard], recorded: dict[str, str]) -> None:
        """A shard we never saw, whose parent we never saw either and which is gone, appeared while
        we were away for longer than the stream keeps records: the parent's records were never
        read. (On the stream's first listing every shard is new: the table scan covers the past.)"""
        if not recorded:
            return
        for shard in shards:
            parent = shard.parent_id
            if shard.shard_id in recorded or not parent or parent in run.shards or parent in recorded:
                continue
            self.needs_rebuild(
                run,
                f"shard {parent} came and left the stream unseen (its child {shard.shard_id} appeared "
                "later): its records were never read",
            )
            return

    def forget_vanished(self, run: CampaignRun, checkpoints: dict[str, str]) -> None:
        """Drop checkpoints of shards that left the stream (24 h after they closed, fully trimmed).
        A shard read to its end is simply done; any other took records nobody read with it."""
        vanished = [sid for sid in checkpoints if sid not in run.shards]
        for shard_id in vanished:
            if checkpoints[shard_id] != END:
                position = checkpoints[shard_id]
                unread = (
                    "it was never read"
                    if position in ("", START)
                    else f"records after {position} were trimmed unread"
                )
                self.needs_rebuild(
                    run, f"shard {shard_id} left the stream before it was read to its end ({unread})"
                )
        self.store.forget_shards(run.config.id, run.stream, vanished)
        for shard_id in vanished:
            del checkpoints[shard_id]

    def balance(self, run: CampaignRun, ready: list[Shard]) -> None:
        consumers = max(1, len(self.store.live_consumers()))
        share = math.ceil(len(ready) / consumers)
        ready_ids = {s.shard_id for s in ready}
        for shard_id in [sid for sid in run.held if sid not in ready_ids]:
            self.release_shard(run, shard_id)
        if len(run.held) > share:  # someone joined: hand one shard back per round
            self.release_shard(run, next(iter(run.held)))
        owners = self.store.lease_owners(run.config.id, [s.shard_id for s in ready])
        taken: list[ShardState] = []
        for shard in ready:
            if shard.shard_id in run.held or owners.get(shard.shard_id) not in (None, self.id):
                continue
            if len(run.held) + len(taken) >= share:
                if owners.get(shard.shard_id) == self.id:
                    # Redis says it is ours but we do not hold it (a failover brought back an old
                    # lease): let it go now rather than make others wait for it to expire.
                    self.store.lease(run.config.id, shard.shard_id, "release", self.id)
                continue
            fence = self.store.lease(run.config.id, shard.shard_id, "take", self.id)
            if fence is None:
                continue  # another consumer won the race for this shard
            taken.append(ShardState(shard=shard, fence=fence, renewed=self.clock()))
        if not taken:
            return
        # Where a shard stands is read only once we hold it: until then its previous holder could
        # still move the checkpoint, or finish the shard.
        checkpoints = self.store.checkpoints(run.config.id, run.stream)
        for state in taken:
            shard_id = state.shard.shard_id
            stored = checkpoints.get(shard_id)
            state.checkpoint = None if stored in (None, "", START) else stored
            run.held[shard_id] = state
            if state.checkpoint == END:
                self.release_shard(run, shard_id)
                run.discovered = -math.inf  # it was finished meanwhile: its children may be ready
                continue
            if state.checkpoint is None:
                self.check_order(run, state.shard)
            log.info("%s took %s/%s (fence %s)", self.id, run.config.slug, shard_id, state.fence)

    def check_order(self, run: CampaignRun, shard: Shard) -> None:
        """Per item, a child's records must come after its parent's. The store orders an item's
        changes by sequence number, and the child is read only after the parent's end, so a child
        whose first sequence number is not above its parent's last would have its changes ignored.
        AWS does not document that it cannot happen: if it does, say so loudly and rebuild (the new
        generation only sees records read after the parent was finished)."""
        parent = run.shards.get(shard.parent_id or "")
        if parent is None or not parent.ending_sequence or not shard.starting_sequence:
            return
        if int(shard.starting_sequence) <= int(parent.ending_sequence):
            self.needs_rebuild(
                run,
                f"shard {shard.shard_id} starts at sequence number {shard.starting_sequence}, not after "
                f"its parent {parent.shard_id} ended ({parent.ending_sequence}): per-item order is unsure",
            )

    def renew_leases(self, run: CampaignRun) -> None:
        """Renew each lease a third of the way through; drop the shards whose lease was lost."""
        for shard_id, state in list(run.held.items()):
            if self.clock() - state.renewed < self.lease_seconds / 3:
                continue
            if self.store.lease(run.config.id, shard_id, "renew", self.id, state.fence) is None:
                log.warning("%s lost its lease on %s", self.id, shard_id)
                del run.held[shard_id]
            else:
                state.renewed = self.clock()

    def release_shard(self, run: CampaignRun, shard_id: str) -> None:
        state = run.held.pop(shard_id, None)
        if state is not None:
            self.store.lease(run.config.id, shard_id, "release", self.id, state.fence)

    def release_campaign(self, run: CampaignRun) -> None:
        for shard_id in list(run.held):
            self.release_shard(run, shard_id)

    def release_all(self) -> None:
        for run in self.runs.values():
            self.release_campaign(run)
        self.store.drop_consumer(self.id)

    # --- reading ------------------------------------------------------------------------------
    def poll(self, run: CampaignRun, state: ShardState) -> None:
        try:
            if state.iterator is None:
                state.iterator = self.open_iterator(run, state)
            records, next_iterator = run.reader.get_records(state.iterator, settings.INGEST_BATCH_LIMIT)
        except redis.RedisError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below
            self.poll_failed(run, state, exc)
            return
        try:
            self.apply(run, state, records, next_iterator)
        except redis.ResponseError as exc:
            # The batch script refused to run (nothing was written: it writes only after every
            # check passed). Handled like any failed read: back off, report, read again.
            self.poll_failed(run, state, exc)

    def open_iterator(self, run: CampaignRun, state: ShardState) -> str:
        """Resume after the checkpoint; a shard never read starts at its first sequence number.

        Not TRIM_HORIZON for a new shard: that quietly starts after whatever was trimmed, while
        AT_SEQUENCE_NUMBER of the shard's start raises TrimmedDataAccessException if anything was.
        Either way lost records are never skipped silently: the campaign is flagged for a rebuild
        (loudly) and the screens keep moving from the oldest record still there.
        """
        shard = state.shard
        if state.checkpoint:
            position, kwargs = f"after the checkpoint {state.checkpoint}", {"after": state.checkpoint}
        elif shard.starting_sequence:
            position, kwargs = "at the start of the shard", {"at": shard.starting_sequence}
        else:
            position, kwargs = "", {}
        try:
            return run.reader.iterator(run.stream_arn, shard.shard_id, **kwargs)
        except Exception as exc:
            code = error_code(exc)
            if not kwargs or code not in ("TrimmedDataAccessException", "ValidationException"):
                raise
            if code == "TrimmedDataAccessException":
                self.needs_rebuild(
                    run, f"shard {shard.shard_id}: records {position} were trimmed before they were read"
                )
            elif "after" in kwargs:
                raise  # a checkpoint the service refuses: report it, never jump ahead
            else:
                log.warning(
                    "%s: AT_SEQUENCE_NUMBER %s refused (%s); reading from TRIM_HORIZON, "
                    "where a trim would go unnoticed",
                    shard.shard_id,
                    shard.starting_sequence,
                    error_text(exc),
                )
            return run.reader.iterator(run.stream_arn, shard.shard_id)

    def poll_failed(self, run: CampaignRun, state: ShardState, exc: Exception) -> None:
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            raise exc  # Redis itself is away: run() waits for it
        code = error_code(exc)
        if code == "ExpiredIteratorException":
            state.iterator = None  # re-created from the checkpoint on the next poll
            state.due = self.clock()
            return
        if code == "TrimmedDataAccessException":
            self.needs_rebuild(run, f"shard {state.shard.shard_id}: iterator points at trimmed data")
            state.iterator = None
            state.due = self.clock()
            return
        if code == "ResourceNotFoundException":
            run.discovered = -math.inf  # stream or shard gone: look again
            self.release_shard(run, state.shard.shard_id)
            self.report(run, last_error=error_text(exc))
            return
        state.failures += 1
        delay = min(MAX_BACKOFF_SECONDS, 0.1 * 2**state.failures) * random.uniform(0.5, 1.0)
        state.due = self.clock() + delay
        level = logging.INFO if code in TRANSIENT_CODES else logging.WARNING
        log.log(
            level,
            "get_records %s/%s failed (%s), retry in %.2fs",
            run.config.slug,
            state.shard.shard_id,
            code,
            delay,
        )
        self.report(run, last_error=error_text(exc))

    def apply(
        self,
        run: CampaignRun,
        state: ShardState,
        records: list[dict[str, Any]],
        next_iterator: str | None,
        *,
        again: bool = True,
    ) -> None:
        """Apply a batch (or an empty read) with the checkpoint it moves from and to."""
        config = run.config
        shard_id = state.shard.shard_id
        closed = next_iterator is None
        if run.gens is None:
            self.maintain(run)
        gens = run.gens
        changes, rejects, decoded, sources = self.translate(config, gens, shard_id, records)
        new_seq = END if closed else (records[-1]["dynamodb"]["SequenceNumber"] if records else None)
        stats = self.batch_stats(run, state, records, decoded, new_seq)
        result = self.commit(run, state, changes, rejects, sources, new_seq, stats, len(records))
        if result.status == "gens_changed":
            # A rebuild started or swapped meanwhile: compute the batch again for the generations
            # that exist now (nothing was written, the checkpoint did not move).
            self.maintain(run)
            if again:
                self.apply(run, state, records, next_iterator, again=False)
            else:
                state.due = self.clock()  # same iterator: the same records are read again
            return
        if result.status != "ok":
            self.refused(run, state, result)
            return
        state.failures = 0  # back-off grows until a batch lands, not merely until a read works
        if new_seq is not None:
            state.checkpoint = None if closed else new_seq
        state.iterator = next_iterator
        state.due = self.clock() if records else self.clock() + settings.INGEST_IDLE_POLL_SECONDS
        if result.metrics:
            ports.publish(ports.MetricsChanged(config, result.version, result.epoch, result.metrics))
        if decoded:
            ticker.record_changes(config, decoded, store=self.store)  # recent gifts for the screens
        if closed:
            log.info("%s finished closed shard %s/%s", self.id, config.slug, shard_id)
            self.release_shard(run, shard_id)
            run.discovered = -math.inf  # its children may be ready now

    def batch_stats(
        self,
        run: CampaignRun,
        state: ShardState,
        records: list[dict[str, Any]],
        decoded: list[Change],
        new_seq: str | None,
    ) -> dict[str, Any]:
        """Health fields written with the batch: the shard's position, lag and rate, and its tip."""
        now = time.time()
        caught_up = len(records) < settings.INGEST_BATCH_LIMIT
        stats: dict[str, Any] = {}
        if run.gens.building and caught_up:  # a rebuild waits for every shard to reach its tip
            stats[f"tip:{state.shard.shard_id}"] = now
        if not records and now - state.reported < 1.0:
            return stats
        last = decoded[-1] if decoded else None
        if last is not None and last.created_at is not None:
            state.last_created = last.created_at
            stats["last_record_at"] = last.created_at
        previous = state.checkpoint
        if new_seq is not None:
            state.checkpoint = new_seq
        stats[f"shard:{state.shard.shard_id}"] = state.health(behind=not caught_up, records=len(records))
        state.checkpoint = previous  # moved for real only once the batch is written
        stats["status_at"] = now
        if records:
            stats["last_applied_at"] = now
        return stats

    def commit(
        self,
        run: CampaignRun,
        state: ShardState,
        changes: list[ItemChange],
        rejects: list[dict[str, Any]],
        sources: list[dict[str, Any]],
        new_seq: str | None,
        stats: dict[str, Any],
        record_count: int,
    ) -> ApplyResult:
        """One apply_batch; a change that would overflow a total is set aside with its reason and
        the batch is sent again without it (nothing was written the first time)."""
        gens = run.gens
        shard_id = state.shard.shard_id

        def apply(batch: list[ItemChange], aside: list[int]) -> ApplyResult:
            return self.store.apply_batch(
                run.config.id,
                changes=batch,
                gens=gens.active,
                expect={"gen": gens.live, "building": gens.building},
                rejects=rejects + [reject_entry(sources[i], shard_id, OVERFLOW_REASON) for i in aside],
                position=Position(run.stream, shard_id, state.checkpoint, new_seq),
                lease=(shard_id, self.id, state.fence),
                stats=stats,
                records=record_count,
            )

        result, _ = apply_what_fits(apply, changes)
        return result

    def refused(self, run: CampaignRun, state: ShardState, result: ApplyResult) -> None:
        """The batch was not written: find out where things stand, and read again from there."""
        shard_id = state.shard.shard_id
        if result.status == "lease_lost":
            log.warning("%s lost %s before writing; another consumer continues", self.id, shard_id)
            run.held.pop(shard_id, None)
        elif result.status == "no_meta":
            self.maintain(run)  # Redis lost our state: start over, and rebuild
        elif result.status == "checkpoint_moved":
            # Redis holds another checkpoint than the one we moved from: it failed over to a
            # replica that missed our last batches (or someone else moved it). Redis is the truth:
            # read again after its checkpoint; replayed records change nothing twice.
            log.error(
                "%s: checkpoint of %s/%s is %s in Redis, not %s; reading again from there",
                self.id,
                run.config.slug,
                shard_id,
                result.detail,
                state.checkpoint,
            )
            stored = result.detail
            state.iterator = None
            state.due = self.clock()
            if stored == END:
                self.release_shard(run, shard_id)
                run.discovered = -math.inf
                return
            state.checkpoint = None if stored in ("", START) else stored
            self.store.renew_epoch(run.config.id)  # screens may hold numbers newer than Redis now
            run.maintained = -math.inf
        elif result.status == "corrupt":
            gen, _, key = result.detail.partition(" ")
            if not gen:
                # A campaign key (not an aggregate) holds something this program never writes:
                # nothing can be counted until someone removes it. Say so, and try again later.
                self.poll_failed(
                    run, state, CorruptKey(f"Redis key {key} is not what this program writes: delete it")
                )
                return
            reason = f"an aggregate of generation {gen} is damaged ({key}): rebuilding it"
            log.error("campaign %s: %s", run.config.slug, reason)
            self.store.drop_generation(run.config.id, gen, reason)
            self.maintain(run)
            state.due = self.clock()
        else:  # a total could not be kept exact even without the changes that would overflow it
            self.poll_failed(
                run, state, BatchRefused(f"batch refused: {result.status} {result.detail}".strip())
            )

    def translate(
        self, config: CampaignConfig, gens: Generations, shard_id: str, records: list[dict[str, Any]]
    ) -> tuple[list[ItemChange], list[dict[str, Any]], list[Change], list[dict[str, Any]]]:
        """Decode a batch into item changes for every generation (each with its own metric
        definitions), the records set aside with their reason (judged by the newest definitions),
        the decoded records (decoded once here, reused by the ticker) and the record of each
        change."""
        changes: list[ItemChange] = []
        rejects: list[dict[str, Any]] = []
        decoded: list[Change] = []
        sources: list[dict[str, Any]] = []
        for record in records:
            try:
                change = decode_record(record)
            except RecordError as exc:
                rejects.append(reject_entry(record, shard_id, str(exc)))
                continue
            decoded.append(change)
            contributions = {}
            for gen in gens.active:
                try:
                    contributions[gen] = item_contribution(gens.specs[gen], change.new_image)
                except RecordError as exc:
                    # The item now contributes nothing (a recount would skip it too); say why.
                    contributions[gen] = []
                    if gen == gens.active[-1]:  # newest definitions: report once per record
                        rejects.append(reject_entry(record, shard_id, str(exc)))
            if not gens.active:  # nothing to count into yet: judge it by the configured metrics
                try:
                    item_contribution(config.specs, change.new_image)
                except RecordError as exc:
                    rejects.append(reject_entry(record, shard_id, str(exc)))
            changes.append(ItemChange(change.item_key, change.sequence, contributions))
            sources.append(record)
        return changes, rejects, decoded, sources

    # --- generations: rebuilds, backfills and lost state --------------------------------------
    def maintain(self, run: CampaignRun) -> None:
        """Keep the campaign's generations right: notice lost state, start rebuilds, run the
        backfill scan, and swap a finished generation in once the stream is caught up."""
        run.maintained = self.clock()
        config = run.config
        meta = self.store.meta(config.id)
        if "gen" not in meta:
            self.state_lost(run)
            meta = self.store.meta(config.id)
        gens = Generations.from_meta(meta)
        wanted = specs_json(config.specs)
        reason = ""
        if gens.needs_rebuild_for(wanted):
            reason = (
                "metric definitions changed"
                if gens.live != "0"
                else meta.get("rebuild_reason") or "no aggregates yet"
            )
        elif meta.get("status") == "needs_rebuild" and (
            not gens.building or float(meta.get("rebuild_requested_at", 0)) > building_started(meta)
        ):
            # Records were lost to the stream: a generation already being built missed them too.
            reason = meta.get("rebuild_reason", "needs a rebuild")
        if reason:
            rebuild_start(
                store=self.store, config=config, reason=reason, replace=meta.get("status") == "needs_rebuild"
            )
            meta = self.store.meta(config.id)
            gens = Generations.from_meta(meta)
        run.gens = gens
        if self.clock() - run.swept >= SWEEP_SECONDS:
            run.swept = self.clock()
            for _ in range(SWEEP_ROUNDS):  # a bounded share of work per minute, enough for ~800 deletes/s
                if self.store.sweep_tombstones(config.id, most=SWEEP_BATCH) < SWEEP_BATCH:
                    break
        if not gens.building:
            return
        done_at = scan_done_at(meta, gens.building)
        if done_at is None:
            self.scans.ensure(config, on_page=lambda _segment: self.report_progress(run))
        elif self.caught_up(run, meta, done_at):
            self.swap(run, gens.building)

    def report_progress(self, run: CampaignRun) -> None:
        """Tell screens how far the rebuild is (at most once a second), while nothing is live."""
        now = time.monotonic()
        if now - run.progress_sent < PROGRESS_SECONDS:
            return
        run.progress_sent = now
        meta = self.store.meta(run.config.id)
        progress = build_progress(self.store, run.config.id)
        if progress is None or meta.get("gen", "0") != "0":
            return  # screens keep showing the live numbers: nothing to say
        ports.publish(
            ports.RebuildProgress(
                run.config, meta.get("epoch", ""), progress.items, progress.estimate, progress.done
            )
        )

    def state_lost(self, run: CampaignRun) -> None:
        """The campaign's meta hash is gone: Redis restarted empty, was flushed or evicted it."""
        config = run.config
        if run.gens is not None:
            log.error("campaign %s: its state is missing from Redis; rebuilding", config.slug)
        self.store.ensure_meta(config.id)
        self.store.set_meta(
            config.id,
            rebuild_reason="aggregates were lost from Redis" if run.gens is not None else "no aggregates yet",
        )
        # Leases and checkpoints went with it: forget the shards (no lease to release) and take
        # them again, reading each from its start.
        run.held.clear()
        run.stream_arn, run.discovered = None, -math.inf
        meta = self.store.meta(config.id)
        ports.publish(ports.Recalculating(config, meta.get("epoch", "")))

    def caught_up(self, run: CampaignRun, meta: dict[str, str], since: float) -> bool:
        """Every readable shard has been read to its tip after the scan finished."""
        if not run.shards:
            return False
        checkpoints = self.store.checkpoints(run.config.id, run.stream)
        ready = [s for s in run.shards.values() if _ready(s, run.shards, checkpoints)]
        return all(float(meta.get(f"tip:{s.shard_id}", 0)) >= since for s in ready)

    def swap(self, run: CampaignRun, gen: str) -> None:
        config = run.config
        version = self.store.swap_generation(config.id, gen)
        if version is None:
            return  # another consumer swapped it, or a newer rebuild replaced it
        log.warning("campaign %s: generation %s is live", config.slug, gen)
        run.gens = Generations.from_meta(self.store.meta(config.id))
        snapshot = self.store.snapshot(config.id, config.displays)
        ports.publish(ports.MetricsChanged(config, snapshot.version, snapshot.epoch, snapshot.metrics))

    def needs_rebuild(self, run: CampaignRun, reason: str) -> None:
        log.error("campaign %s needs a rebuild: %s", run.config.slug, reason)
        self.report(run, status="needs_rebuild", rebuild_reason=reason, rebuild_requested_at=time.time())

    def report(self, run: CampaignRun, **fields: Any) -> None:
        # (A needs_rebuild status stays until a rebuild's swap clears it: meta.lua keeps it.)
        if not self.store.set_meta(run.config.id, **fields, status_at=time.time()):
            # The campaign's state is gone: heal it first (a report must never recreate it).
            run.maintained = -math.inf
            if fields.get("status") == "needs_rebuild":
                log.error("campaign %s: state lost before a needed rebuild was recorded", run.config.slug)


class CorruptKey(Exception):
    """A Redis key of the campaign holds a value of another type or shape than ours."""


class BatchRefused(Exception):
    """The batch script would not write the batch (the reason is in the message)."""


def reject_entry(record: dict[str, Any], shard_id: str, reason: str) -> dict[str, Any]:
    body = record.get("dynamodb") or {}
    return {
        "reason": reason,
        "event": record.get("eventName"),
        "shard": shard_id,
        "sequence": body.get("SequenceNumber"),
        "keys": body.get("Keys"),
        "at": time.time(),
    }


def _ready(shard: Shard, shards: dict[str, Shard], checkpoints: dict[str, str]) -> bool:
    """A shard is read only after its parent is drained (or gone: trimmed parents count as done)."""
    if checkpoints.get(shard.shard_id) == END:
        return False
    parent = shard.parent_id
    return parent is None or parent not in shards or checkpoints.get(parent) == END


def _source(config: CampaignConfig) -> tuple[str, str, str]:
    return (config.table_name, config.region, config.endpoint_url)
