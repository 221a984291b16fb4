"""Reading a shard and applying its batches: GetRecords, then one script per batch that moves the
aggregates and the checkpoint together (ingest/lua/commit_batch.lua, after the planner in ingest/items.py), or writes nothing.

A batch names the checkpoint it moves from; a refusal says why, and the batch is read again from
where Redis says the shard stands. Failed reads back off (0.1 s doubling to 5 s) until a batch lands.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import redis
from django.conf import settings

from . import ports, samples, ticker
from .config import CampaignConfig
from .generations import GenerationKeeper
from .metrics import item_contribution
from .rebuild import Generations
from .records import Change, RecordError, decode_record
from .runs import CampaignRun, ShardState, Worker
from .shards import ShardKeeper
from .store import (
    END,
    START,
    ApplyResult,
    ItemChange,
    Position,
    apply_what_fits,
    batch_health,
    generations_are,
)
from .streams import TRANSIENT_CODES, error_code, error_text

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
OVERFLOW_REASON = "amount too large: counting it would take a total past what can be kept exactly"


class CorruptKey(Exception):
    """A Redis key of the campaign holds a value of another type or shape than ours."""


class BatchRefused(Exception):
    """The batch script would not write the batch (the reason is in the message)."""


class BatchApplier:
    def __init__(self, worker: Worker, shards: ShardKeeper, generations: GenerationKeeper):
        self.worker, self.shards, self.generations = worker, shards, generations
        self.store = worker.store

    # --- reading ------------------------------------------------------------------------------
    def poll(self, run: CampaignRun, state: ShardState) -> None:
        try:
            if state.iterator is None:
                state.iterator = self.open_iterator(run, state)
            records, next_iterator = self.read(run, state)
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

    def read(self, run: CampaignRun, state: ShardState) -> tuple[list[dict[str, Any]], str | None]:
        """The shard's next batch: read ahead, if that read was from where the shard stands."""
        ahead, state.ahead = state.ahead, None
        if ahead is not None and ahead.iterator == state.iterator:
            return ahead.result()
        return run.reader.get_records(state.iterator, settings.INGEST_BATCH_LIMIT)

    def read_ahead(
        self, run: CampaignRun, state: ShardState, records: list, next_iterator: str | None
    ) -> None:
        """A shard that is behind reads its next batch while this one is told to the screens and
        the next shards are read (ingest/readahead.py)."""
        reads = self.worker.reads
        if reads is not None and next_iterator and len(records) >= settings.INGEST_BATCH_LIMIT:
            state.ahead = reads.start(run.reader.get_records, next_iterator, settings.INGEST_BATCH_LIMIT)

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
                why = f"shard {shard.shard_id}: records {position} were trimmed before they were read"
                self.worker.needs_rebuild(run, why)
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
            raise exc  # Redis itself is away: the consumer's loop waits for it
        code = error_code(exc)
        if code in ("ExpiredIteratorException", "TrimmedDataAccessException"):
            if code == "TrimmedDataAccessException":
                self.worker.needs_rebuild(
                    run, f"shard {state.shard.shard_id}: iterator points at trimmed data"
                )
            state.iterator = None  # re-created from the checkpoint on the next poll
            state.due = self.worker.clock()
            return
        if code == "ResourceNotFoundException":
            run.discover_soon()  # stream or shard gone: look again
            self.shards.release_shard(run, state.shard.shard_id)
            self.worker.report(run, last_error=error_text(exc))
            return
        state.failures += 1
        delay = min(MAX_BACKOFF_SECONDS, 0.1 * 2**state.failures) * random.uniform(0.5, 1.0)
        state.due = self.worker.clock() + delay
        level = logging.INFO if code in TRANSIENT_CODES else logging.WARNING
        log.log(
            level,
            "get_records %s/%s failed (%s), retry in %.2fs",
            run.config.slug,
            state.shard.shard_id,
            code,
            delay,
        )
        self.worker.report(run, last_error=error_text(exc))

    # --- applying -----------------------------------------------------------------------------
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
        if run.gens is None:
            self.generations.maintain(run)
        closed = next_iterator is None
        changes, rejects, decoded, sources = translate(run.config, run.gens, state.shard.shard_id, records)
        new_seq = END if closed else (records[-1]["dynamodb"]["SequenceNumber"] if records else None)
        stats = self.batch_stats(run, state, records, decoded, new_seq)
        result = self.commit(run, state, changes, rejects, sources, new_seq, stats, len(records))
        if result.status == "gens_changed":
            # A rebuild started or swapped meanwhile: compute the batch again for the generations
            # that exist now (nothing was written, the checkpoint did not move).
            self.generations.maintain(run)
            if again:
                self.apply(run, state, records, next_iterator, again=False)
            else:
                state.due = self.worker.clock()  # same iterator: the same records are read again
            return
        if result.status != "ok":
            self.refused(run, state, result)
            return
        self.landed(
            run, state, result, records, decoded, new_seq, next_iterator, gifts=gift_entries(run, changes)
        )
        if records:
            self.sample(run, records=len(records), rejected=len(rejects), decoded=decoded)

    def sample(self, run: CampaignRun, *, records: int, rejected: int, decoded: list[Change]) -> None:
        """This minute's counts and worst lag, for the admin's chart and "needs attention"."""
        newest = decoded[-1].created_at if decoded else None
        lag = max(0.0, time.time() - newest) if newest is not None else 0.0
        try:
            samples.record_minute(
                self.store, run.config.id, records=records, rejected=rejected, lag_seconds=lag
            )
        except redis.RedisError:  # a lost sample thins the chart; the batch itself is written
            log.debug("sample of %s not kept", run.config.slug)

    def landed(
        self,
        run: CampaignRun,
        state: ShardState,
        result: ApplyResult,
        records: list[dict[str, Any]],
        decoded: list[Change],
        new_seq: str | None,
        next_iterator: str | None,
        *,
        gifts: list[list | None] | None = None,
    ) -> None:
        """The batch is written: move on, and tell the screens."""
        config, clock = run.config, self.worker.clock
        state.failures = 0  # back-off grows until a batch lands, not merely until a read works
        if new_seq is not None:
            state.checkpoint = None if new_seq == END else new_seq
        state.iterator = next_iterator
        state.due = clock() if records else clock() + settings.INGEST_IDLE_POLL_SECONDS
        self.read_ahead(run, state, records, next_iterator)
        if result.metrics:
            ports.publish(ports.MetricsChanged(config, result.version, result.epoch, result.metrics))
        if decoded:
            ticker.record_changes(  # recent gifts for the screens
                config,
                decoded,
                store=self.store,
                entries=gifts,
                moderate=self.worker.organizer.moderate_ticker,
            )
        if next_iterator is None:
            log.info("%s finished closed shard %s/%s", self.worker.id, config.slug, state.shard.shard_id)
            self.shards.release_shard(run, state.shard.shard_id)
            run.discover_soon()  # its children may be ready now

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
        at_tip = caught_up  # a rebuild's swap and "Verify totals" wait for every shard's tip
        if not records and now - state.reported < 1.0:
            return batch_health(
                shard_id=state.shard.shard_id,
                now=now,
                at_tip=at_tip,
                report=None,
                last_record_at=None,
                applied=False,
            )
        last = decoded[-1] if decoded else None
        if last is not None and last.created_at is not None:
            state.last_created = last.created_at
        previous = state.checkpoint
        if new_seq is not None:
            state.checkpoint = new_seq
        report = state.health(behind=not caught_up, records=len(records))
        state.checkpoint = previous  # moved for real only once the batch is written
        return batch_health(
            shard_id=state.shard.shard_id,
            now=now,
            at_tip=at_tip,
            report=report,
            last_record_at=last.created_at if last is not None else None,
            applied=bool(records),
        )

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
                expect=generations_are(gens.live, gens.building),
                rejects=rejects + [reject_entry(sources[i], shard_id, OVERFLOW_REASON) for i in aside],
                position=Position(run.stream, shard_id, state.checkpoint, new_seq),
                lease=(shard_id, self.worker.id, state.fence),
                stats=stats,
                records=record_count,
            )

        result, _ = apply_what_fits(apply, changes)
        return result

    # --- refusals -----------------------------------------------------------------------------
    def refused(self, run: CampaignRun, state: ShardState, result: ApplyResult) -> None:
        """The batch was not written: find out where things stand, and read again from there."""
        if result.status == "lease_lost":
            log.warning(
                "%s lost %s before writing; another consumer continues", self.worker.id, state.shard.shard_id
            )
            run.held.pop(state.shard.shard_id, None)
        elif result.status == "no_meta":
            self.generations.maintain(run)  # Redis lost our state: start over, and rebuild
        elif result.status == "checkpoint_moved":
            self.checkpoint_moved(run, state, result.detail)
        elif result.status == "corrupt":
            self.corrupt(run, state, result.detail)
        else:  # a total could not be kept exact even without the changes that would overflow it
            refusal = BatchRefused(f"batch refused: {result.status} {result.detail}".strip())
            self.poll_failed(run, state, refusal)

    def checkpoint_moved(self, run: CampaignRun, state: ShardState, stored: str) -> None:
        """Redis holds another checkpoint than the one we moved from: it failed over to a replica
        that missed our last batches (or someone else moved it). Redis is the truth: read again
        after its checkpoint; replayed records change nothing twice."""
        shard_id = state.shard.shard_id
        log.error(
            "%s: checkpoint of %s/%s is %s in Redis, not %s; reading again from there",
            self.worker.id,
            run.config.slug,
            shard_id,
            stored,
            state.checkpoint,
        )
        state.iterator = None
        state.due = self.worker.clock()
        if stored == END:
            self.shards.release_shard(run, shard_id)
            run.discover_soon()
            return
        state.checkpoint = None if stored in ("", START) else stored
        self.store.renew_epoch(run.config.id)  # screens may hold numbers newer than Redis now
        run.heal_soon()

    def corrupt(self, run: CampaignRun, state: ShardState, detail: str) -> None:
        gen, _, key = detail.partition(" ")
        if not gen:
            # A campaign key (not an aggregate) holds something this program never writes: nothing
            # can be counted until someone removes it. Say so, and try again later.
            self.poll_failed(
                run, state, CorruptKey(f"Redis key {key} is not what this program writes: delete it")
            )
            return
        reason = f"an aggregate of generation {gen} is damaged ({key}): rebuilding it"
        log.error("campaign %s: %s", run.config.slug, reason)
        self.store.drop_generation(run.config.id, gen, reason)
        self.generations.maintain(run)
        state.due = self.worker.clock()


def translate(
    config: CampaignConfig, gens: Generations, shard_id: str, records: list[dict[str, Any]]
) -> tuple[list[ItemChange], list[dict[str, Any]], list[Change], list[dict[str, Any]]]:
    """Decode a batch into item changes for every generation (each with its own metric
    definitions), the records set aside with their reason (judged by the newest definitions), the
    decoded records (decoded once here, reused by the ticker) and the record of each change."""
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
        contributions, reason = contributions_of(config, gens, change)
        if reason:
            rejects.append(reject_entry(record, shard_id, reason))
        decoded.append(change)
        changes.append(ItemChange(change.item_key, change.sequence, contributions))
        sources.append(record)
    return changes, rejects, decoded, sources


def gift_entries(run: CampaignRun, changes: list[ItemChange]) -> list[list | None] | None:
    """What each new image contributes by the configured definitions, when the newest generation
    counts by them (as it does but while a rebuild for new definitions runs): the ticker reuses
    these instead of evaluating every record again."""
    gens = run.gens
    if gens is None or not gens.active or gens.specs[gens.active[-1]] != run.config.specs:
        return None
    newest = gens.active[-1]
    return [change.contributions.get(newest) for change in changes]


def contributions_of(
    config: CampaignConfig, gens: Generations, change: Change
) -> tuple[dict[str, list], str]:
    """What the changed item contributes to each generation, and why it counts for nothing if it
    does not (judged by the newest definitions, or the configured ones when none is active)."""
    contributions: dict[str, list] = {}
    reason = ""
    for gen in gens.active:
        try:
            contributions[gen] = item_contribution(gens.specs[gen], change.new_image)
        except RecordError as exc:
            contributions[gen] = []  # the item counts for nothing (a recount would skip it too)
            reason = str(exc) if gen == gens.active[-1] else reason
    if not gens.active:
        try:
            item_contribution(config.specs, change.new_image)
        except RecordError as exc:
            reason = str(exc)
    return contributions, reason


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
