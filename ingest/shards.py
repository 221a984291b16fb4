"""Which shards a consumer reads: discovery, lineage and fenced leases.

Shards are listed with DescribeStream; every shard is recorded the first time it is seen, so one
that leaves the stream unread is known. A child is read only after its parent's end. Each shard is
read under a fenced lease (ingest/lua/lease.lua), shared fairly among the live consumers.
"""

from __future__ import annotations

import logging
import math

import redis
from botocore.exceptions import EndpointConnectionError
from django.conf import settings

from .runs import CampaignRun, ShardState, Worker, ready
from .store import END, START, stream_key
from .streams import TRANSIENT_CODES, USABLE_VIEW_TYPES, Shard, StreamInfo, error_code, error_text

log = logging.getLogger(__name__)

# A successful discovery clears the source problem (CampaignMeta.source_broken: no_stream,
# bad_stream, or source_error: DescribeTable/DescribeStream failed for a reason that does not pass
# by itself, such as no table, access denied, credentials refused).


class ShardKeeper:
    def __init__(self, worker: Worker):
        self.worker = worker
        self.store = worker.store

    # --- discovery ----------------------------------------------------------------------------
    def discover(self, run: CampaignRun) -> None:
        run.discovered = self.worker.clock()
        try:
            info = run.reader.describe()
            if not self.usable(run, info) or not self.follow(run, info):
                return
            # Checkpoints first: a shard checkpointed before the listing began existed then, so if
            # the listing lacks it, it has left the stream (shards never come back).
            checkpoints = self.store.checkpoints(run.config.id, run.stream)
            shards = run.reader.list_shards(info.arn)
        except redis.RedisError:
            raise
        except Exception as exc:  # noqa: BLE001 - any AWS failure is reported and retried
            lasting = error_code(exc) not in TRANSIENT_CODES and not isinstance(exc, EndpointConnectionError)
            status = "source_error" if lasting else None
            self.worker.report(run, status=status, last_error=f"discover: {error_text(exc)}")
            log.warning("discover %s failed: %s", run.config.slug, error_text(exc))
            return
        self.listed(run, shards, checkpoints)

    def usable(self, run: CampaignRun, info: StreamInfo) -> bool:
        """The table has a stream whose records carry the items' new state; else say what to fix."""
        if not info.arn:
            error = f"table {run.config.table_name} has no stream enabled"
            self.worker.report(run, status="no_stream", last_error=error)
            return False
        if info.view_type not in USABLE_VIEW_TYPES:
            error = f"stream view type {info.view_type}: enable NEW_IMAGE or NEW_AND_OLD_IMAGES"
            self.worker.report(run, status="bad_stream", last_error=error)
            return False
        return True

    def follow(self, run: CampaignRun, info: StreamInfo) -> bool:
        """Record the stream the campaign follows. Redis, not memory, says which one it followed:
        it may have been lost or failed over since this consumer last looked."""
        meta = self.store.campaign_meta(run.config.id)
        if info.arn != meta.stream_arn:
            if not self.store.record_stream(run.config.id, info.arn):
                run.heal_soon()  # the campaign's state is gone: heal it first
                return False
            if meta.stream_arn:
                # The stream was disabled and enabled again: what was written in between never
                # reached any stream, so only a scan of the table can count it.
                self.worker.needs_rebuild(
                    run, f"the table's stream changed ({meta.stream_arn} -> {info.arn})"
                )
        if meta.source_broken:  # read again: clears the status and the source problem
            self.worker.report(run, last_error="", status="live" if meta.live != "0" else "recalculating")
        if info.arn != run.stream_arn:
            self.release_campaign(run)
            run.stream_arn = info.arn
            run.stream = stream_key(info.arn)
        return True

    def listed(self, run: CampaignRun, shards: list[Shard], checkpoints: dict[str, str]) -> None:
        run.shards = {s.shard_id: s for s in shards}
        self.check_lineage(run, shards, checkpoints)
        # Every shard is recorded as soon as it is seen, read or not: one that leaves the stream
        # before it was read to its end is then known to have taken records nobody read.
        new = [s.shard_id for s in shards if s.shard_id not in checkpoints]
        if self.store.record_shards(run.config.id, run.stream, new) is None:
            run.heal_soon()
            return
        self.forget_vanished(run, checkpoints)
        self.balance(run, [s for s in shards if ready(s, run.shards, checkpoints)])

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
            self.worker.needs_rebuild(
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
            position = checkpoints.pop(shard_id)
            if position == END:
                continue
            unread = (
                "it was never read"
                if position in ("", START)
                else f"records after {position} were trimmed unread"
            )
            self.worker.needs_rebuild(
                run, f"shard {shard_id} left the stream before it was read to its end ({unread})"
            )
        self.store.forget_shards(run.config.id, run.stream, vanished)

    # --- leases -------------------------------------------------------------------------------
    def balance(self, run: CampaignRun, ready_shards: list[Shard]) -> None:
        """Hold a fair share of the ready shards: release what is no longer ready or over the share,
        take free ones up to it."""
        share = math.ceil(len(ready_shards) / max(1, len(self.store.live_consumers())))
        ready_ids = {s.shard_id for s in ready_shards}
        for shard_id in [sid for sid in run.held if sid not in ready_ids]:
            self.release_shard(run, shard_id)
        if len(run.held) > share:  # someone joined: hand one shard back per round
            self.release_shard(run, next(iter(run.held)))
        taken = self.take(run, ready_shards, share)
        if taken:
            self.position(run, taken)

    def take(self, run: CampaignRun, ready_shards: list[Shard], share: int) -> list[ShardState]:
        owners = self.store.lease_owners(run.config.id, [s.shard_id for s in ready_shards])
        me = self.worker.id
        taken: list[ShardState] = []
        for shard in ready_shards:
            if shard.shard_id in run.held or owners.get(shard.shard_id) not in (None, me):
                continue
            if len(run.held) + len(taken) >= share:
                if owners.get(shard.shard_id) == me:
                    # Redis says it is ours but we do not hold it (a failover brought back an old
                    # lease): let it go now rather than make others wait for it to expire.
                    self.store.lease(run.config.id, shard.shard_id, "release", me)
                continue
            fence = self.store.lease(run.config.id, shard.shard_id, "take", me)
            if fence is not None:  # (None: another consumer won the race for this shard)
                taken.append(ShardState(shard=shard, fence=fence, renewed=self.worker.clock()))
        return taken

    def position(self, run: CampaignRun, taken: list[ShardState]) -> None:
        """Where each shard just taken stands. Read only once we hold it: until then its previous
        holder could still move the checkpoint, or finish the shard."""
        checkpoints = self.store.checkpoints(run.config.id, run.stream)
        for state in taken:
            shard_id = state.shard.shard_id
            stored = checkpoints.get(shard_id)
            state.checkpoint = None if stored in (None, "", START) else stored
            run.held[shard_id] = state
            if state.checkpoint == END:
                self.release_shard(run, shard_id)
                run.discover_soon()  # it was finished meanwhile: its children may be ready
                continue
            if state.checkpoint is None:
                self.check_order(run, state.shard)
            log.info("%s took %s/%s (fence %s)", self.worker.id, run.config.slug, shard_id, state.fence)

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
            self.worker.needs_rebuild(
                run,
                f"shard {shard.shard_id} starts at sequence number {shard.starting_sequence}, not after "
                f"its parent {parent.shard_id} ended ({parent.ending_sequence}): per-item order is unsure",
            )

    def renew_leases(self, run: CampaignRun) -> None:
        """Renew each lease a third of the way through; drop the shards whose lease was lost."""
        for shard_id, state in list(run.held.items()):
            if self.worker.clock() - state.renewed < self.worker.lease_seconds / 3:
                continue
            if self.store.lease(run.config.id, shard_id, "renew", self.worker.id, state.fence) is None:
                log.warning("%s lost its lease on %s", self.worker.id, shard_id)
                del run.held[shard_id]
            else:
                state.renewed = self.worker.clock()

    def release_shard(self, run: CampaignRun, shard_id: str) -> None:
        state = run.held.pop(shard_id, None)
        if state is not None:
            self.store.lease(run.config.id, shard_id, "release", self.worker.id, state.fence)

    def release_campaign(self, run: CampaignRun) -> None:
        for shard_id in list(run.held):
            self.release_shard(run, shard_id)


def discover_due(run: CampaignRun, now: float) -> bool:
    return now - run.discovered >= settings.INGEST_DISCOVER_SECONDS
