"""The Redis store: aggregates, per-item contributions, checkpoints, leases, rejects and health.

The single module that talks to Redis for aggregate state. Every key of one campaign carries the
same hash tag ({fr:<id>}), so a batch is one atomic script on one Redis Cluster slot.

Layout for campaign C (G is the live generation, see docs/correctness.md):
  {fr:C}:meta            hash  gen, version, records, rejected, stream, status, last_* health
  {fr:C}:gG:items        hash  item digest -> {"s": sequence, "c": contribution}
  {fr:C}:gG:tomb         zset  item digest -> when it came to count for nothing (dropped later)
  {fr:C}:gG:m:<metric>   hash  "t" -> total, "g:<group>" -> group value (integers, minor units)
  {fr:C}:gG:d:<metric>   hash  "<digest>:<group>" -> references (count_distinct)
  {fr:C}:gG:D:<metric>   hash  "<digest>" -> references (count_distinct, all groups)
  {fr:C}:ckpt:<stream>   hash  shard id -> "START" (known, nothing applied), last applied sequence or "END"
  {fr:C}:lease:<name>    hash  owner, fence, expires (ms, Redis clock); name: a shard id, or "scan"
  {fr:C}:turn            string  the campaign's commit turn (a writer's token, expires after 2 s)
  {fr:C}:rejects         list  recent rejected records (JSON), newest first
  {fr:C}:ticker...       the recent gifts list (ingest/ticker.py, ingest/lua/ticker.lua)
  {fr:C}:screen:<S>      string  screen S's last heartbeat (JSON, expires; dashboard/heartbeats.py)
  fr:kiosk-guesses:<client>  string  unknown kiosk tokens a client tried (dashboard/limits.py)
  fr:consumers           zset  live consumer ids -> when their heartbeat expires
Every Redis command of the product is a method here (django-eventstream's pub/sub aside, see
docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import redis
from django.conf import settings

from .items import dumps, plan_generation
from .metrics import Entry

LUA_DIR = Path(__file__).parent / "lua"
END = "END"
START = "START"  # a shard we know of, from which nothing was applied yet
LIVE = "live"  # the generation the screens read
SCAN_LEASE = "scan"  # the lease of a campaign's table scan (shard ids never take this name)
# Tombstones (items that count for nothing) are kept while an older record of them could still be
# read: the stream keeps records 24 hours; an hour more covers a batch in flight.
TOMBSTONE_SECONDS = 25 * 3600
T = TypeVar("T")


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, health_check_interval=15)


@dataclass
class ApplyResult:
    """What apply_batch did. Anything but "ok" means nothing was written:

    no_meta           the campaign has no state in Redis (new, or Redis lost it)
    gens_changed      an expected meta field moved (a rebuild started or swapped, a scan moved on)
    lease_lost        the caller no longer holds its lease
    checkpoint_moved  the stored checkpoint is not the one the batch moves from (detail: stored)
    overflow          counting these changes would take a total past what Redis holds exactly:
                      `overflow` (indexes) must count nothing, `left_out` must not change at all
    corrupt           an aggregate is not what this code writes (detail: "generation key")
    stale, busy       other writers kept changing the batch's items, or kept the campaign's commit
                      turn, through every attempt (see COMMIT_ATTEMPTS): try again later
    """

    status: str
    version: int = 0
    applied: int = 0
    epoch: str = ""
    metrics: dict[str, MetricValues] = field(default_factory=dict)
    detail: str = ""
    overflow: list[int] = field(default_factory=list)
    left_out: list[int] = field(default_factory=list)

    @classmethod
    def from_script(cls, raw: list[Any]) -> ApplyResult:
        """commit_batch.lua's answer: {"ok", version, applied, epoch, slug, fields, ...} or a refusal."""
        status = raw[0]
        if status == "overflow":
            marks = [part.split(":") for part in raw[1:]]
            overflow = sorted(int(i) - 1 for how, i in marks if how == "n")
            return cls(
                status, overflow=overflow, left_out=sorted(int(i) - 1 for how, i in marks if how == "k")
            )
        if status != "ok":
            return cls(status, detail=" ".join(str(part) for part in raw[1:]))
        metrics = {
            slug: MetricValues.from_hash(dict(zip(flat[::2], flat[1::2], strict=False)))
            for slug, flat in zip(raw[4::2], raw[5::2], strict=False)
        }
        return cls("ok", version=int(raw[1]), applied=int(raw[2]), epoch=raw[3], metrics=metrics)


@dataclass
class MetricValues:
    total: int
    groups: dict[str, int]

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> MetricValues:
        groups = {name[2:]: int(value) for name, value in raw.items() if name.startswith("g:")}
        return cls(total=int(raw.get("t", 0)), groups=groups)


BROKEN_STATUSES = ("no_stream", "bad_stream", "source_error")
PAUSED = "paused"


def _float_or_none(raw: str | None) -> float | None:
    return float(raw) if raw else None


class MetaField(Generic[T]):
    """One field of the meta hash, read as a T; `default` when the hash does not have it."""

    def __init__(self, name: str, read: Callable[[str], T], default: T):
        self.name, self.read, self.default = name, read, default

    def __get__(self, meta: CampaignMeta, owner: type | None = None) -> T:
        raw = meta.raw.get(self.name)
        return self.default if raw is None else self.read(raw)


@dataclass(frozen=True)
class CampaignMeta:
    """A campaign's meta hash, read in one go: the one place its field names are known.

    Generations (`gen` live, `building`), `status` (live, recalculating, needs_rebuild, no_stream,
    bad_stream) with its `rebuild_reason`, the numbers' `version` and `epoch`, the stream followed,
    a rebuild's scan plan, segment positions and end (`scan:<gen>`, `scan:<gen>:<i>`,
    `scan_done:<gen>`), each shard's health (`shard:<id>`) and when it was last read at its tip
    (`tip:<id>`), counters (`records`, `rejected`) and the last error.
    """

    raw: dict[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """The campaign has state (a meta hash with its generation): else Redis lost it, or it is new."""
        return "gen" in self.raw

    live = MetaField("gen", str, "0")  # "0": nothing live
    building = MetaField("building", str, "")
    status = MetaField("status", str, "")
    version = MetaField("version", int, 0)
    epoch = MetaField("epoch", str, "")
    stream_arn = MetaField("stream_arn", str, "")
    rebuild_reason = MetaField("rebuild_reason", str, "")
    rebuild_requested_at = MetaField("rebuild_requested_at", lambda raw: float(raw or 0), 0.0)
    last_rebuild_reason = MetaField("last_rebuild_reason", str, "")
    rebuilt_at = MetaField("rebuilt_at", _float_or_none, None)
    last_error = MetaField("last_error", str, "")
    last_record_at = MetaField("last_record_at", _float_or_none, None)
    records = MetaField("records", int, 0)
    rejected = MetaField("rejected", int, 0)
    # The counters when the live generation went live (generation.lua's swap), and what was wrong
    # with the table when it last could not be read (kept apart from `status`, which a due rebuild
    # holds at needs_rebuild against every report: see meta.lua).
    records_at_live = MetaField("records_at_live", int, 0)
    rejected_at_live = MetaField("rejected_at_live", int, 0)
    source_problem = MetaField("source_problem", str, "")

    @property
    def source_broken(self) -> bool:
        """The worker cannot read the table (no stream, unusable view type, no table, no access)."""
        return bool(self.source_problem) or self.status in BROKEN_STATUSES

    def read_since_live(self) -> tuple[int, int]:
        """(records, rejected) since the live generation went live: the stream's records after the
        swap and the items its scan read. A recount with fixed definitions starts afresh."""
        plan = self.scan_plan(self.live) if self.live != "0" else {}
        records = max(self.records - self.records_at_live, 0)
        rejected = max(self.rejected - self.rejected_at_live, 0)
        for segment in range(int(plan.get("segments", 0))):
            position = json.loads(self.scan_position(self.live, segment) or "{}")
            records += int(position.get("items", 0))
            rejected += int(position.get("rejected", 0))
        return records, rejected

    @property
    def shown_status(self) -> str:
        """What the public page and screens are told, never an internal code: "paused" while the
        table cannot be read (donors see "Totals paused", organizers the reason in the admin),
        "recalculating" whenever no generation is live (no numbers), else "live" (a rebuild that is
        due keeps the numbers shown until the new ones are complete; the admin says why)."""
        if self.source_broken:
            return PAUSED
        return "recalculating" if self.live == "0" or self.status == "recalculating" else "live"

    def specs(self, gen: str) -> str | None:
        """The metric definitions (JSON) a generation was built with."""
        return self.raw.get(f"specs:{gen}")

    def scan_plan(self, gen: str) -> dict[str, Any]:
        return json.loads(self.raw.get(f"scan:{gen}") or "{}")

    def scan_position(self, gen: str, segment: int) -> str:
        """A scan segment's position as stored (JSON, "" before its first page)."""
        return self.raw.get(f"scan:{gen}:{segment}", "")

    def scan_done_at(self, gen: str) -> float | None:
        return _float_or_none(self.raw.get(f"scan_done:{gen}"))

    def tip_read_at(self, shard_id: str) -> float:
        return float(self.raw.get(f"tip:{shard_id}", 0) or 0)

    def shard_reports(self) -> dict[str, str]:
        """Each shard's health report (JSON), by shard id."""
        return {name[6:]: value for name, value in self.raw.items() if name.startswith("shard:")}


# Meta fields writers name (the readers are CampaignMeta's properties above).
def scan_position_field(gen: str, segment: int) -> str:
    return f"scan:{gen}:{segment}"


def scan_plan_field(gen: str) -> str:
    return f"scan:{gen}"


def scan_done_field(gen: str) -> str:
    return f"scan_done:{gen}"


def building_is(gen: str) -> dict[str, str]:
    """An apply_batch expectation: this generation is (still) the one being built."""
    return {"building": gen}


def generations_are(live: str, building: str) -> dict[str, str]:
    """An apply_batch expectation: these are (still) the live and building generations."""
    return {"gen": live, "building": building}


def tip_field(shard_id: str) -> str:
    return f"tip:{shard_id}"


def shard_report_field(shard_id: str) -> str:
    return f"shard:{shard_id}"


def batch_health(
    *,
    shard_id: str,
    now: float,
    at_tip: bool,
    report: str | None,
    last_record_at: float | None,
    applied: bool,
) -> dict[str, Any]:
    """The meta fields a batch writes about its shard: read at its tip (a rebuild waits for every
    shard's), its health report, the newest record's time, when records were last applied."""
    fields: dict[str, Any] = {}
    if at_tip:
        fields[tip_field(shard_id)] = now
    if report is not None:
        fields[shard_report_field(shard_id)] = report
        fields["status_at"] = now
    if last_record_at is not None:
        fields["last_record_at"] = last_record_at
    if applied:
        fields["last_applied_at"] = now
    return fields


@dataclass
class Snapshot:
    state: CampaignMeta
    metrics: dict[str, MetricValues]

    @property
    def meta(self) -> dict[str, str]:
        return self.state.raw

    @property
    def version(self) -> int:
        return self.state.version

    @property
    def epoch(self) -> str:
        return self.state.epoch

    @property
    def status(self) -> str:
        """ "recalculating" whenever no generation is live: there are no numbers to show."""
        return self.state.shown_status


@dataclass(frozen=True)
class ItemChange:
    item_key: str
    sequence: str  # zero-padded; "" for an item read by a table scan
    contributions: dict[str, list[Entry]]  # generation ("live" or a generation id) -> entries

    def counting_nothing(self) -> ItemChange:
        """The same change, contributing nothing to any generation (the item is set aside)."""
        return ItemChange(self.item_key, self.sequence, {gen: [] for gen in self.contributions})


# A batch is worked out again when states changed under it (a scan page and a shard writing the
# same items); after TURN_AFTER such refusals the writer takes the campaign's turn (commit_batch.lua)
# and the others wait ("busy"), a few milliseconds at a time, for at most COMMIT_ATTEMPTS tries.
COMMIT_ATTEMPTS = 60
TURN_AFTER = 2
TURN_MILLISECONDS = 2000  # a writer that died holding the turn holds it no longer than this


@dataclass
class PendingBatch:
    """What apply_batch was asked to write, until it is written."""

    changes: list[ItemChange]
    gens: list[str]
    expect: dict[str, str]
    lease: tuple[str, str, int] | None
    position: Position | None
    rejects: list[str]
    stats: dict[str, str]
    records: int
    turn: str = ""  # the campaign's commit turn, once taken (see COMMIT_ATTEMPTS)

    def item_keys(self) -> list[str]:
        return list(dict.fromkeys(change.item_key for change in self.changes))

    def add_guards(self, header: dict[str, Any]) -> None:
        if self.expect:
            header["expect"] = self.expect
        if self.lease:
            header["lease"] = dict(zip(("name", "owner", "fence"), self.lease, strict=True))
        if self.position:
            header["position"] = self.position.wire()
        if self.records:
            header["records"] = self.records
        if self.turn:
            header["turn"] = self.turn


@dataclass(frozen=True)
class Position:
    """Where a batch moves a shard: from the checkpoint it was read after (None: the shard's start),
    to `seq` (None: it stays)."""

    stream: str
    shard: str
    expect: str | None
    seq: str | None = None

    def wire(self) -> dict[str, str]:
        wired = {"stream": self.stream, "shard": self.shard, "expect": self.expect or ""}
        if self.seq is not None:
            wired["seq"] = self.seq
        return wired


class Store:
    def __init__(self, client: redis.Redis | None = None, prefix: str | None = None):
        self.redis = client or get_redis()
        self.prefix = prefix or settings.REDIS_KEY_PREFIX
        self._commit_script = self.redis.register_script((LUA_DIR / "commit_batch.lua").read_text())
        self._give_turn = self.redis.register_script((LUA_DIR / "turn.lua").read_text())
        self._lease = self.redis.register_script((LUA_DIR / "lease.lua").read_text())
        self._generation = self.redis.register_script((LUA_DIR / "generation.lua").read_text())
        self._meta = self.redis.register_script((LUA_DIR / "meta.lua").read_text())
        self._sweep = self.redis.register_script((LUA_DIR / "sweep_tombstones.lua").read_text())
        self._ticker = self.redis.register_script((LUA_DIR / "ticker.lua").read_text())

    # --- keys ---------------------------------------------------------------------------------
    def base(self, campaign_id: int) -> str:
        return f"{{{self.prefix}:{campaign_id}}}"

    def meta_key(self, campaign_id: int) -> str:
        return f"{self.base(campaign_id)}:meta"

    def items_key(self, campaign_id: int, gen: str) -> str:
        return f"{self.base(campaign_id)}:g{gen}:items"

    def metric_key(self, campaign_id: int, gen: str, slug: str) -> str:
        return f"{self.base(campaign_id)}:g{gen}:m:{slug}"

    def checkpoint_key(self, campaign_id: int, stream: str) -> str:
        return f"{self.base(campaign_id)}:ckpt:{stream}"

    def lease_key(self, campaign_id: int, shard_id: str) -> str:
        return f"{self.base(campaign_id)}:lease:{shard_id}"

    # --- campaign state -----------------------------------------------------------------------
    def ensure_meta(self, campaign_id: int) -> CampaignMeta:
        """The campaign's meta hash, created empty (nothing live, "recalculating") if missing.

        A missing meta hash means a new campaign or a Redis that lost its data: either way the
        aggregates must be (re)built from the table (ingest/rebuild.py).
        """
        self._generation(
            keys=[self.meta_key(campaign_id)], args=[self.base(campaign_id), "reset", new_epoch()]
        )
        return self.campaign_meta(campaign_id)

    def start_generation(
        self, campaign_id: int, *, specs: str, plan: str, reason: str, replace: bool = False
    ) -> str | None:
        """Begin building a generation with these metric definitions (or keep the one that is,
        unless replace). None when the campaign has no state (ensure_meta first)."""
        gen = self._generation(
            keys=[self.meta_key(campaign_id)],
            args=[
                self.base(campaign_id),
                "start",
                specs,
                plan,
                reason,
                "1" if replace else "",
                uuid.uuid4().hex[:6],
            ],
        )
        return None if gen is None else str(gen)

    def swap_generation(self, campaign_id: int, gen: str) -> int | None:
        """Make a built generation live; None if it is no longer the one being built."""
        version = self._generation(
            keys=[self.meta_key(campaign_id)], args=[self.base(campaign_id), "swap", gen, new_epoch()]
        )
        return None if version is None else int(version)

    def drop_generation(self, campaign_id: int, gen: str, reason: str) -> bool:
        """Delete a generation that cannot be trusted; a rebuild replaces it."""
        done = self._generation(
            keys=[self.meta_key(campaign_id)],
            args=[self.base(campaign_id), "drop", gen, new_epoch(), reason],
        )
        return done is not None

    def renew_epoch(self, campaign_id: int) -> None:
        """The numbers may have gone back in time (a failover): screens take the next snapshot."""
        self._generation(
            keys=[self.meta_key(campaign_id)], args=[self.base(campaign_id), "epoch", new_epoch()]
        )

    def meta(self, campaign_id: int) -> dict[str, str]:
        """The raw meta hash (tests and debugging; code reads campaign_meta)."""
        return self.redis.hgetall(self.meta_key(campaign_id))

    def campaign_meta(self, campaign_id: int) -> CampaignMeta:
        return CampaignMeta(self.redis.hgetall(self.meta_key(campaign_id)))

    def set_meta(self, campaign_id: int, **fields: Any) -> bool:
        """Set meta fields of a campaign that has state; False (nothing written) if it has none.

        Never a bare HSET: after Redis lost the campaign's state that would recreate the meta hash
        without a generation (see meta.lua).
        """
        args = [self.base(campaign_id), "set"]
        for name, value in fields.items():
            args += [name, str(value)]
        return bool(self._meta(keys=[self.meta_key(campaign_id)], args=args))

    def report(self, campaign_id: int, *, status: str | None = None, last_error: str | None = None) -> bool:
        """The campaign's ingestion status and last error (False when its state is gone)."""
        fields: dict[str, Any] = {"status_at": time.time()}
        if status is not None:
            fields["status"] = status
            # Its own field: a due rebuild keeps `status` at needs_rebuild (meta.lua).
            fields["source_problem"] = status if status in BROKEN_STATUSES else ""
        if last_error is not None:
            fields["last_error"] = last_error
        return self.set_meta(campaign_id, **fields)

    def flag_rebuild(self, campaign_id: int, reason: str) -> bool:
        """Records were lost: the campaign needs a rebuild, loudly (False when its state is gone)."""
        now = time.time()
        return self.set_meta(
            campaign_id,
            status="needs_rebuild",
            rebuild_reason=reason,
            rebuild_requested_at=now,
            status_at=now,
        )

    def set_rebuild_reason(self, campaign_id: int, reason: str) -> bool:
        return self.set_meta(campaign_id, rebuild_reason=reason)

    def record_stream(self, campaign_id: int, stream_arn: str) -> bool:
        """The stream the campaign's state follows (False when its state is gone)."""
        return self.set_meta(campaign_id, stream_arn=stream_arn, stream=stream_key(stream_arn))

    def record_shards(self, campaign_id: int, stream: str, shard_ids: Iterable[str]) -> int | None:
        """Record shards as known (START) unless already recorded; None if the state is gone."""
        shard_ids = list(shard_ids)
        if not shard_ids:
            return 0
        added = int(
            self._meta(
                keys=[self.meta_key(campaign_id)], args=[self.base(campaign_id), "shards", stream, *shard_ids]
            )
        )
        return None if added < 0 else added

    def sweep_tombstones(self, campaign_id: int, *, age: float = TOMBSTONE_SECONDS, most: int = 1000) -> int:
        """Drop item states that count for nothing and are older than `age` seconds."""
        return int(
            self._sweep(keys=[self.meta_key(campaign_id)], args=[self.base(campaign_id), int(age), most])
        )

    def apply_batch(
        self,
        campaign_id: int,
        *,
        changes: Iterable[ItemChange] = (),
        gens: Iterable[str] = (LIVE,),
        expect: dict[str, str] | None = None,
        lease: tuple[str, str, int] | None = None,
        position: Position | None = None,
        rejects: Iterable[dict[str, Any]] = (),
        stats: dict[str, Any] | None = None,
        records: int | None = None,
    ) -> ApplyResult:
        """Apply a batch atomically, or nothing at all (see ApplyResult for why not).

        gens: the generations the contributions are for; expect: meta fields that must still hold
        these values ("" for absent), e.g. {"gen": live, "building": building}; lease = (name,
        owner, fence); position: the shard checkpoint the batch moves from and to; records: how
        many stream records the batch stands for (added to the campaign's count).

        The items' states are read, the batch worked out from them in Python (ingest/items.py), and
        committed by one script that writes only if no state changed meanwhile; else it is worked
        out again from the new states.
        """
        batch = PendingBatch(
            list(changes), list(gens), expect or {}, lease, position, [_encode_json(r) for r in rejects],
            {k: str(v) for k, v in (stats or {}).items()}, records or 0,
        )  # fmt: skip
        try:
            return self._apply_in_turn(campaign_id, batch)
        finally:
            if batch.turn:
                self._give_turn(self.turn_key(campaign_id), args=[batch.turn])

    def _apply_in_turn(self, campaign_id: int, batch: PendingBatch) -> ApplyResult:
        """Commit, working the batch out again while other writers change its items (after
        TURN_AFTER of those, in the campaign's turn) or hold the turn."""
        stale = 0
        for attempt in range(COMMIT_ATTEMPTS):
            result = self._apply_once(campaign_id, batch)
            if result.status not in ("stale", "busy"):
                return result
            stale += result.status == "stale"
            if stale >= TURN_AFTER and not batch.turn:
                batch.turn = self._take_turn(campaign_id)
            time.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 4)))
        return result

    def turn_key(self, campaign_id: int) -> str:
        return f"{self.base(campaign_id)}:turn"

    def _take_turn(self, campaign_id: int) -> str:
        """The campaign's commit turn, or "" while another writer has it."""
        token = uuid.uuid4().hex
        taken = self.redis.set(self.turn_key(campaign_id), token, nx=True, px=TURN_MILLISECONDS)
        return token if taken else ""

    def _apply_once(self, campaign_id: int, batch: PendingBatch) -> ApplyResult:
        gen_ids = self._generation_ids(campaign_id, batch)
        stored = self._read_states(campaign_id, gen_ids, batch.item_keys())
        plans = {}
        for name, gen in gen_ids.items():
            try:
                plans[name] = plan_generation(name, batch.changes, stored[name])[0]
            except (ValueError, TypeError, KeyError):  # a stored state this code did not write
                return ApplyResult("corrupt", detail=f"{gen} {self.items_key(campaign_id, gen)}")
        result = self._commit(campaign_id, batch, gen_ids, plans)
        if result.status == "overflow_check":
            return self._set_aside(campaign_id, batch, gen_ids, stored)
        return result

    def _generation_ids(self, campaign_id: int, batch: PendingBatch) -> dict[str, str]:
        """The generations to write, by the name the contributions use ("live" or an id)."""
        live = batch.expect.get("gen")
        if LIVE in batch.gens and live is None:
            live = self.redis.hget(self.meta_key(campaign_id), "gen") or "0"
        ids = {name: (live if name == LIVE else name) for name in batch.gens}
        return {name: gen for name, gen in ids.items() if gen not in ("", "0", None)}

    def _read_states(self, campaign_id: int, gen_ids: dict[str, str], keys: list[str]) -> dict[str, dict]:
        if not keys or not gen_ids:
            return {name: {} for name in gen_ids}
        pipe = self.redis.pipeline(transaction=False)
        for gen in gen_ids.values():
            pipe.hmget(self.items_key(campaign_id, gen), keys)
        try:
            answers = pipe.execute()
        except redis.ResponseError:  # an items key of another type: the script says which
            answers = [[None] * len(keys) for _ in gen_ids]
        return {
            name: dict(zip(keys, values, strict=True)) for name, values in zip(gen_ids, answers, strict=True)
        }

    def _set_aside(
        self, campaign_id: int, batch: PendingBatch, gen_ids: dict[str, str], stored: dict
    ) -> ApplyResult:
        """Some total would pass the limit: which changes must count nothing, or be left out,
        worked out on the exact current values."""
        verdicts: dict[int, str] = {}
        for name, gen in gen_ids.items():
            current = self._sums(campaign_id, gen)
            _, overflow = plan_generation(name, batch.changes, stored[name], current)
            for index, how in overflow.items():
                verdicts[index] = "k" if "k" in (how, verdicts.get(index)) else how
        if not verdicts:
            return ApplyResult("stale")  # the values moved meanwhile: work it out again
        overflow = sorted(i for i, how in verdicts.items() if how == "n")
        return ApplyResult(
            "overflow", overflow=overflow, left_out=sorted(i for i, how in verdicts.items() if how == "k")
        )

    def _sums(self, campaign_id: int, gen: str) -> dict[tuple[str, str], int]:
        """Every sum field of a generation (exact), by (metric, field)."""
        prefix = f"{self.base(campaign_id)}:g{gen}:m:"
        values: dict[tuple[str, str], int] = {}
        for key in self.redis.scan_iter(match=f"{prefix}*", count=1000):
            for name, raw in self.redis.hgetall(key).items():
                values[(key[len(prefix) :], name)] = int(raw)
        return values

    def _commit(
        self, campaign_id: int, batch: PendingBatch, gen_ids: dict[str, str], plans: dict
    ) -> ApplyResult:
        header: dict[str, Any] = {
            "writes": [],
            "sums": [],
            "refs": [],
            "tombs": [],
            "rejects": batch.rejects,
            "reject_cap": settings.INGEST_REJECTS_KEPT,
            "stats": batch.stats,
            "applied": sum(plan.applied for plan in plans.values()),
        }  # optional parts absent, not null: Lua's cjson turns null into a truthy userdata
        for name, plan in plans.items():
            header["writes"].append(
                [name, [[key, old or "", new] for key, (old, new) in plan.writes.items()]]
            )
            header["sums"] += [[name, slug, field, str(delta)] for (slug, field), delta in plan.sums.items()]
            header["refs"] += [[name, slug, value, group, d] for (slug, value, group), d in plan.refs.items()]
            header["refs"] += [[name, slug, value, False, d] for (slug, value), d in plan.value_refs.items()]
            header["tombs"] += [[name, how, key] for key, how in plan.tombs.items()]
        batch.add_guards(header)
        raw = self._commit_script(
            keys=[self.meta_key(campaign_id)], args=[self.base(campaign_id), _encode_json(header)]
        )
        return ApplyResult.from_script(raw)

    def snapshot(self, campaign_id: int, slugs: Iterable[str]) -> Snapshot:
        """Meta and values of the given metrics, read atomically in one round trip."""
        slugs = list(slugs)
        gen = self.redis.hget(self.meta_key(campaign_id), "gen") or "0"
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(self.meta_key(campaign_id))
        for slug in slugs:
            pipe.hgetall(self.metric_key(campaign_id, gen, slug))
        raw, *values = pipe.execute()
        meta = CampaignMeta(raw)
        if meta.live == "0":  # nothing live (being rebuilt): show no numbers, not zeros
            return Snapshot(meta, metrics={})
        # (A generation swap between the two reads is caught by comparing the generation read.)
        if meta.live != gen:
            return self.snapshot(campaign_id, slugs)
        return Snapshot(meta, {s: MetricValues.from_hash(r) for s, r in zip(slugs, values, strict=False)})

    # --- checkpoints and leases ---------------------------------------------------------------
    def checkpoints(self, campaign_id: int, stream: str) -> dict[str, str]:
        return self.redis.hgetall(self.checkpoint_key(campaign_id, stream))

    def forget_shards(self, campaign_id: int, stream: str, shard_ids: Iterable[str]) -> None:
        shard_ids = list(shard_ids)
        if shard_ids:
            self.redis.hdel(self.checkpoint_key(campaign_id, stream), *shard_ids)
            self.redis.hdel(
                self.meta_key(campaign_id),
                *(f"{kind}:{shard_id}" for shard_id in shard_ids for kind in ("shard", "tip")),
            )

    def lease(
        self,
        campaign_id: int,
        shard_id: str,
        action: str,
        owner: str,
        fence: int | None = None,
        ttl_seconds: float | None = None,
    ) -> int | None:
        ttl_ms = int((ttl_seconds or settings.INGEST_LEASE_SECONDS) * 1000)
        result = self._lease(
            keys=[self.lease_key(campaign_id, shard_id)],
            args=[action, owner, "" if fence is None else str(fence), ttl_ms],
        )
        return None if result is None else int(result)

    def lease_holder(self, campaign_id: int, name: str) -> str | None:
        """Who holds a lease now (None when it is free or expired)."""
        return self.lease_owners(campaign_id, [name])[name]

    def lease_owners(self, campaign_id: int, shard_ids: Iterable[str]) -> dict[str, str | None]:
        shard_ids = list(shard_ids)
        pipe = self.redis.pipeline(transaction=False)
        for shard_id in shard_ids:
            pipe.hmget(self.lease_key(campaign_id, shard_id), "owner", "expires")
        now_ms = time.time() * 1000
        owners = {}
        for shard_id, (owner, expires) in zip(shard_ids, pipe.execute(), strict=False):
            owners[shard_id] = owner if expires and float(expires) >= now_ms else None
        return owners

    # --- rejects ------------------------------------------------------------------------------
    def recent_rejects(self, campaign_id: int, limit: int = 50) -> list[dict[str, Any]]:
        raw = self.redis.lrange(f"{self.base(campaign_id)}:rejects", 0, limit - 1)
        return [json.loads(r) for r in raw]

    # --- the recent gifts ticker (ingest/ticker.py) ---------------------------------------------
    def ticker_keys(self, campaign_id: int) -> list[str]:
        base = f"{self.base(campaign_id)}:ticker"
        return [base, f"{base}:order", f"{base}:gone", f"{base}:gone:order", f"{base}:state"]

    def apply_ticker(
        self, campaign_id: int, ops: str, *, kept: int, gone_kept: int, list_id: str, seed: str
    ) -> bool:
        args = [kept, gone_kept, list_id, ops, seed]
        return bool(self._ticker(keys=self.ticker_keys(campaign_id), args=args))

    def read_ticker(self, campaign_id: int, limit: int, removed: int) -> tuple[Any, ...]:
        """(newest members, stored entries, (list id, rev), newest removals), read at once."""
        items, order, _, gone_order, state = self.ticker_keys(campaign_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrevrange(order, 0, limit - 1)
        pipe.hgetall(items)
        pipe.hmget(state, "id", "rev")
        pipe.zrevrange(gone_order, 0, removed - 1)
        return tuple(pipe.execute())

    # --- screens' heartbeats (dashboard/heartbeats.py): frequent, disposable, a day at most --------
    def screen_key(self, campaign_id: int, screen_id: int) -> str:
        return f"{self.base(campaign_id)}:screen:{screen_id}"

    def keep_heartbeat(self, campaign_id: int, screen_id: int, report: str, *, seconds: int) -> None:
        self.redis.set(self.screen_key(campaign_id, screen_id), report, ex=seconds)

    def heartbeats(self, screens: list[tuple[int, int]]) -> list[str | None]:
        """The last report of each (campaign id, screen id), in order (None: none kept)."""
        pipe = self.redis.pipeline(transaction=False)
        for campaign_id, screen_id in screens:
            pipe.get(self.screen_key(campaign_id, screen_id))
        return pipe.execute()

    def forget_heartbeat(self, campaign_id: int, screen_id: int) -> None:
        self.redis.delete(self.screen_key(campaign_id, screen_id))

    # --- unknown kiosk tokens per client (dashboard/limits.py), across every web process ---------
    def guesses_key(self, client: str) -> str:
        return f"{self.prefix}:kiosk-guesses:{client}"

    def guesses(self, client: str) -> tuple[int, int]:
        """(unknown tokens this client tried in its window, seconds left in that window)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.guesses_key(client))
        pipe.ttl(self.guesses_key(client))
        count, ttl = pipe.execute()
        return int(count or 0), int(ttl)

    def count_guess(self, client: str, *, window_seconds: int) -> None:
        """One more unknown token from this client; its window starts at its first guess."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.guesses_key(client), 0, ex=window_seconds, nx=True)  # INCR keeps this expiry
        pipe.incr(self.guesses_key(client))
        pipe.execute()

    # --- a campaign's whole state ---------------------------------------------------------------
    def forget_campaign(self, campaign_id: int) -> None:
        """Every key of the campaign (totals, items, checkpoints, ticker...): for a table started anew."""
        keys = list(self.redis.scan_iter(match=f"{self.base(campaign_id)}*", count=1000))
        if keys:
            self.redis.delete(*keys)

    # --- consumers ----------------------------------------------------------------------------
    def consumers_key(self) -> str:
        return f"{self.prefix}:consumers"

    def heartbeat_consumer(self, consumer_id: str, ttl_seconds: float) -> None:
        self.redis.zadd(self.consumers_key(), {consumer_id: time.time() + ttl_seconds})

    def drop_consumer(self, consumer_id: str) -> None:
        self.redis.zrem(self.consumers_key(), consumer_id)

    def live_consumers(self) -> list[str]:
        return list(self.consumer_heartbeats())

    def consumer_heartbeats(self) -> dict[str, float]:
        """Each live consumer and when its heartbeat runs out (epoch seconds, its own clock)."""
        key = self.consumers_key()
        self.redis.zremrangebyscore(key, "-inf", time.time())
        return dict(self.redis.zrange(key, 0, -1, withscores=True))


def apply_what_fits(
    apply: Callable[[list[ItemChange], list[int]], ApplyResult], changes: list[ItemChange]
) -> tuple[ApplyResult, list[int]]:
    """Apply a batch; changes that would overflow a total are set aside and the batch is sent again
    without them (nothing was written before). `apply(changes, aside)` writes one batch; `aside`
    lists the original indexes set aside so far (their rejects go with the batch). Returns the
    result and the indexes set aside.

    A change set aside counts for nothing (as an unusable item would), or, if even taking the
    item's old contribution away would overflow, is left out and the item keeps what it had. Each
    change is set aside at most twice, so this ends."""
    current = list(changes)
    kept = list(range(len(changes)))  # original index of each change still in the batch
    aside: set[int] = set()
    for _ in range(2 * len(changes) + 2):
        result = apply(current, sorted(aside))
        if result.status != "overflow":
            return result, sorted(aside)
        for index in result.overflow:
            current[index] = current[index].counting_nothing()
            aside.add(kept[index])
        dropped = set(result.left_out)
        aside.update(kept[index] for index in dropped)
        current = [change for index, change in enumerate(current) if index not in dropped]
        kept = [original for index, original in enumerate(kept) if index not in dropped]
    return result, sorted(aside)


def stream_key(stream_arn: str) -> str:
    """A short stable name for a stream in key names (its checkpoints)."""
    return hashlib.blake2b(stream_arn.encode(), digest_size=8).hexdigest()


def new_epoch() -> str:
    # The epoch names one incarnation of the live numbers: screens trust a snapshot from a new
    # epoch even if its version is lower (the state was rebuilt after Redis lost it).
    return uuid.uuid4().hex[:12]


def _encode_json(payload: Any) -> str:
    return dumps(payload)
