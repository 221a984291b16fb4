"""The Redis store: aggregates, per-item contributions, checkpoints, leases, rejects and health.

The single module that talks to Redis for aggregate state. Every key of one campaign carries the
same hash tag ({fr:<id>}), so a batch is one atomic script on one Redis Cluster slot.

Layout for campaign C (G is the live generation, see docs/correctness.md):
  {fr:C}:meta            hash  gen, version, records, rejected, stream, status, last_* health
  {fr:C}:gG:items        hash  item digest -> {"s": sequence, "c": contribution}
  {fr:C}:gG:m:<metric>   hash  "t" -> total, "g:<group>" -> group value (integers, minor units)
  {fr:C}:gG:d:<metric>   hash  "<digest>:<group>" -> references (count_distinct)
  {fr:C}:gG:D:<metric>   hash  "<digest>" -> references (count_distinct, all groups)
  {fr:C}:ckpt:<stream>   hash  shard id -> last applied sequence (zero-padded) or "END"
  {fr:C}:lease:<shard>   hash  owner, fence, expires (ms, Redis clock)
  {fr:C}:rejects         list  recent rejected records (JSON), newest first
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import redis
from django.conf import settings

from .metrics import Entry

LUA_DIR = Path(__file__).parent / "lua"
END = "END"
LIVE = "live"  # the generation the screens read


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, health_check_interval=15)


@dataclass
class ApplyResult:
    status: str  # "ok", "lease_lost", "no_meta" or "gens_changed"
    version: int = 0
    applied: int = 0
    epoch: str = ""
    metrics: dict[str, MetricValues] = field(default_factory=dict)


@dataclass
class MetricValues:
    total: int
    groups: dict[str, int]

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> MetricValues:
        groups = {name[2:]: int(value) for name, value in raw.items() if name.startswith("g:")}
        return cls(total=int(raw.get("t", 0)), groups=groups)


@dataclass
class Snapshot:
    meta: dict[str, str]
    metrics: dict[str, MetricValues]

    @property
    def version(self) -> int:
        return int(self.meta.get("version", 0))

    @property
    def epoch(self) -> str:
        return self.meta.get("epoch", "")

    @property
    def status(self) -> str:
        """ "recalculating" whenever no generation is live: there are no numbers to show."""
        if self.meta.get("gen", "0") == "0":
            return "recalculating"
        return self.meta.get("status", "live")


@dataclass(frozen=True)
class ItemChange:
    item_key: str
    sequence: str  # zero-padded; "" for an item read by a table scan
    contributions: dict[str, list[Entry]]  # generation ("live" or a number being built) -> entries


class Store:
    def __init__(self, client: redis.Redis | None = None, prefix: str | None = None):
        self.redis = client or get_redis()
        self.prefix = prefix or settings.REDIS_KEY_PREFIX
        self._apply = self.redis.register_script((LUA_DIR / "apply_batch.lua").read_text())
        self._lease = self.redis.register_script((LUA_DIR / "lease.lua").read_text())
        self._generation = self.redis.register_script((LUA_DIR / "generation.lua").read_text())

    # --- keys ---------------------------------------------------------------------------------
    def base(self, campaign_id: int) -> str:
        return f"{{{self.prefix}:{campaign_id}}}"

    def meta_key(self, campaign_id: int) -> str:
        return f"{self.base(campaign_id)}:meta"

    def metric_key(self, campaign_id: int, gen: str, slug: str) -> str:
        return f"{self.base(campaign_id)}:g{gen}:m:{slug}"

    def checkpoint_key(self, campaign_id: int, stream: str) -> str:
        return f"{self.base(campaign_id)}:ckpt:{stream}"

    def lease_key(self, campaign_id: int, shard_id: str) -> str:
        return f"{self.base(campaign_id)}:lease:{shard_id}"

    # --- campaign state -----------------------------------------------------------------------
    def ensure_meta(self, campaign_id: int) -> dict[str, str]:
        """The campaign's meta hash, created empty (nothing live, "recalculating") if missing.

        A missing meta hash means a new campaign or a Redis that lost its data: either way the
        aggregates must be (re)built from the table (ingest/rebuild.py).
        """
        self._generation(
            keys=[self.meta_key(campaign_id)], args=[self.base(campaign_id), "reset", new_epoch()]
        )
        return self.meta(campaign_id)

    def start_generation(
        self, campaign_id: int, *, specs: str, plan: str, reason: str, replace: bool = False
    ) -> str:
        """Begin building a generation with these metric definitions (or keep the one that is,
        unless replace)."""
        return str(
            self._generation(
                keys=[self.meta_key(campaign_id)],
                args=[self.base(campaign_id), "start", specs, plan, reason, "1" if replace else ""],
            )
        )

    def swap_generation(self, campaign_id: int, gen: str) -> int | None:
        """Make a built generation live; None if it is no longer the one being built."""
        version = self._generation(
            keys=[self.meta_key(campaign_id)], args=[self.base(campaign_id), "swap", gen, new_epoch()]
        )
        return None if version is None else int(version)

    def meta(self, campaign_id: int) -> dict[str, str]:
        return self.redis.hgetall(self.meta_key(campaign_id))

    def set_meta(self, campaign_id: int, **fields: Any) -> None:
        self.redis.hset(self.meta_key(campaign_id), mapping={k: str(v) for k, v in fields.items()})

    def apply_batch(
        self,
        campaign_id: int,
        *,
        changes: Iterable[ItemChange],
        gens: tuple[str, ...] = (LIVE,),
        rejects: Iterable[dict[str, Any]] = (),
        checkpoint: tuple[str, str, str] | None = None,
        lease: tuple[str, str, int] | None = None,
        stats: dict[str, Any] | None = None,
        records: int | None = None,
        expect: tuple[str, str] | None = None,
    ) -> ApplyResult:
        """Apply a batch atomically.

        checkpoint = (stream, shard, seq); lease = (shard, owner, fence); records = how many stream
        records the batch stands for (added to the campaign's count); expect = the (live, building)
        generations the contributions were computed for: if they changed, nothing is written and the
        status is "gens_changed".
        """
        payload = {
            "gens": list(gens),
            "changes": [[c.item_key, c.sequence, _wire(c.contributions)] for c in changes],
            "rejects": [json.dumps(r, default=str) for r in rejects],
            "reject_cap": settings.INGEST_REJECTS_KEPT,
            "stats": {k: str(v) for k, v in (stats or {}).items()},
        }  # absent, not null: Lua's cjson turns null into a truthy userdata
        if checkpoint:
            payload["checkpoint"] = dict(zip(("stream", "shard", "seq"), checkpoint, strict=False))
        if lease:
            payload["lease"] = dict(zip(("shard", "owner", "fence"), lease, strict=False))
        if records:
            payload["records"] = records
        if expect is not None:
            payload["expect"] = {"gen": expect[0], "building": expect[1]}
        raw = self._apply(
            keys=[self.meta_key(campaign_id)], args=[self.base(campaign_id), _encode_json(payload)]
        )
        if raw[0] != "ok":
            return ApplyResult(status=raw[0])
        metrics = {}
        for slug, flat in zip(raw[4::2], raw[5::2], strict=False):
            metrics[slug] = MetricValues.from_hash(dict(zip(flat[::2], flat[1::2], strict=False)))
        return ApplyResult(
            status="ok", version=int(raw[1]), applied=int(raw[2]), epoch=raw[3], metrics=metrics
        )

    def snapshot(self, campaign_id: int, slugs: Iterable[str]) -> Snapshot:
        """Meta and values of the given metrics, read atomically in one round trip."""
        slugs = list(slugs)
        gen = self.redis.hget(self.meta_key(campaign_id), "gen") or "0"
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(self.meta_key(campaign_id))
        for slug in slugs:
            pipe.hgetall(self.metric_key(campaign_id, gen, slug))
        meta, *values = pipe.execute()
        if meta.get("gen", "0") == "0":  # nothing live (being rebuilt): show no numbers, not zeros
            return Snapshot(meta=meta, metrics={})
        # (A generation swap between the two reads is caught by comparing the generation read.)
        if meta.get("gen", "0") != gen:
            return self.snapshot(campaign_id, slugs)
        return Snapshot(
            meta=meta, metrics={s: MetricValues.from_hash(r) for s, r in zip(slugs, values, strict=False)}
        )

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

    # --- consumers ----------------------------------------------------------------------------
    def consumers_key(self) -> str:
        return f"{self.prefix}:consumers"

    def heartbeat_consumer(self, consumer_id: str, ttl_seconds: float) -> None:
        self.redis.zadd(self.consumers_key(), {consumer_id: time.time() + ttl_seconds})

    def drop_consumer(self, consumer_id: str) -> None:
        self.redis.zrem(self.consumers_key(), consumer_id)

    def live_consumers(self) -> list[str]:
        key = self.consumers_key()
        self.redis.zremrangebyscore(key, "-inf", time.time())
        return self.redis.zrange(key, 0, -1)


def new_epoch() -> str:
    # The epoch names one incarnation of the live numbers: screens trust a snapshot from a new
    # epoch even if its version is lower (the state was rebuilt after Redis lost it).
    return uuid.uuid4().hex[:12]


def _wire(contributions: dict[str, list[Entry]]) -> dict[str, list[list[str]]]:
    # Lua's cjson turns JSON numbers into doubles; amounts travel as strings to stay exact.
    return {gen: [[k, s, g, str(v)] for k, s, g, v in entries] for gen, entries in contributions.items()}


def _encode_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)
