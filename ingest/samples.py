"""Per-minute samples of a campaign's ingestion (records, rejects, worst lag), for the admin's chart
and for "needs attention" (most recent records rejected). Bounded: the last hour, one hash per
campaign (`{fr:C}:minutes`, fields `<minute>:r`, `<minute>:x`, `<minute>:lag`).

Written by the worker after each batch that lands; a lost sample only thins the chart, never a
total, so this is a plain pipeline, not part of the batch's atomic script.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .store import CampaignMeta, Store

WINDOW_MINUTES = 60
# More than half rejected means "needs attention" only once this many records were read (all
# rejected does at once).
ATTENTION_MIN_RECORDS = 5


@dataclass(frozen=True)
class Minute:
    minute: int  # epoch minutes
    records: int
    rejected: int
    lag_seconds: float


def minutes_key(store: Store, campaign_id: int) -> str:
    return f"{store.base(campaign_id)}:minutes"


def record_minute(
    store: Store,
    campaign_id: int,
    *,
    records: int,
    rejected: int,
    lag_seconds: float,
    now: float | None = None,
) -> None:
    now = time.time() if now is None else now
    minute = int(now // 60)
    key = minutes_key(store, campaign_id)
    lag_field = f"{minute}:lag"
    previous_lag = float(store.redis.hget(key, lag_field) or 0)
    pipe = store.redis.pipeline(transaction=False)
    pipe.hincrby(key, f"{minute}:r", records)
    pipe.hincrby(key, f"{minute}:x", rejected)
    pipe.hset(key, lag_field, round(max(previous_lag, lag_seconds), 1))
    pipe.expire(key, (WINDOW_MINUTES + 5) * 60)
    pipe.execute()
    _trim(store, key, minute)


def _trim(store: Store, key: str, minute: int) -> None:
    old = [name for name in store.redis.hkeys(key) if int(name.split(":")[0]) <= minute - WINDOW_MINUTES]
    if old:
        store.redis.hdel(key, *old)


def last_hour(store: Store, campaign_id: int, now: float | None = None) -> list[Minute]:
    """One Minute per minute of the last hour, oldest first (zeros where nothing was read)."""
    now = time.time() if now is None else now
    current = int(now // 60)
    raw = store.redis.hgetall(minutes_key(store, campaign_id))
    rows = []
    for minute in range(current - WINDOW_MINUTES + 1, current + 1):
        rows.append(
            Minute(
                minute,
                int(raw.get(f"{minute}:r", 0)),
                int(raw.get(f"{minute}:x", 0)),
                float(raw.get(f"{minute}:lag", 0)),
            )
        )
    return rows


def mostly_rejected(minutes: list[Minute], meta: CampaignMeta) -> tuple[int, int] | None:
    """(rejected, read) when nothing at all was counted of what was read, or more than half of it
    was set aside (once at least ATTENTION_MIN_RECORDS were read): over the last hour if enough
    were read in it, else since the live numbers went live. Only what was read after the live
    generation went live counts: a recount with fixed definitions starts afresh. None otherwise."""
    went_live = meta.rebuilt_at or 0.0
    recent = [m for m in minutes if m.minute * 60 >= went_live]
    hour_read = sum(m.records for m in recent)
    if hour_read >= ATTENTION_MIN_RECORDS:
        read, bad = hour_read, sum(m.rejected for m in recent)
    else:
        read, bad = meta.read_since_live()
    if read and (bad >= read or (read >= ATTENTION_MIN_RECORDS and bad * 2 > read)):
        return bad, read
    return None
