"""Ingestion health per campaign and shard, for /healthz and the admin (read from Redis)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings

from .store import END, CampaignMeta, Store

PROBLEM_STATUSES = ("needs_rebuild", "no_stream", "bad_stream")


def shard_health(meta: CampaignMeta, now: float) -> dict[str, dict[str, Any]]:
    shards = {}
    for shard_id, raw in meta.shard_reports().items():
        try:
            info = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(info, dict):
            continue
        finished = info.get("seq") == END
        if finished:
            lag = 0.0
        elif info.get("behind") and info.get("created"):
            lag = now - float(info["created"])  # records are waiting: how old the newest read is
        else:
            lag = now - float(info.get("read_at") or now)  # at the tip: how long since we looked
        shards[shard_id] = {
            "last_sequence_number": info.get("seq"),
            "finished": finished,
            "lag_seconds": round(max(lag, 0.0), 1),
            "records_per_second": info.get("rps", 0),
            "last_record_at": info.get("created"),
        }
    return shards


def campaign_health(store: Store, campaign_id: int, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    meta = store.campaign_meta(campaign_id)
    shards = shard_health(meta, now)
    lag = max((s["lag_seconds"] for s in shards.values()), default=None)
    status = meta.status or "starting"
    problems = []
    if status in PROBLEM_STATUSES:
        problems.append(f"{status}: {meta.rebuild_reason or meta.last_error}".strip())
    if lag is not None and lag > settings.INGEST_MAX_LAG_SECONDS:
        problems.append(f"lag {lag:.0f}s is over {settings.INGEST_MAX_LAG_SECONDS:.0f}s")
    last_record = meta.last_record_at
    return {
        "status": status,
        "ok": not problems,
        "problems": problems,
        "records": meta.records,
        "rejected": meta.rejected,
        "records_per_second": round(sum(s["records_per_second"] for s in shards.values()), 1),
        "lag_seconds": lag,
        "last_record_age_seconds": None if not last_record else round(now - last_record, 1),
        "last_error": meta.last_error,
        "rebuilding": bool(meta.building),
        "rebuild_reason": meta.rebuild_reason,
        "last_rebuild_reason": meta.last_rebuild_reason,
        "rebuilt_at": meta.rebuilt_at,
        "shards": shards,
    }


def overall_health(store: Store, campaigns: dict[str, int]) -> dict[str, Any]:
    """campaigns: slug -> id of the active campaigns."""
    now = time.time()
    report = {slug: campaign_health(store, campaign_id, now) for slug, campaign_id in campaigns.items()}
    consumers = len(store.live_consumers())
    problems = [] if consumers else ["no stream consumer is running"]
    return {
        "ok": not problems and all(c["ok"] for c in report.values()),
        "problems": problems,
        "consumers": consumers,
        "max_lag_seconds": settings.INGEST_MAX_LAG_SECONDS,
        "campaigns": report,
    }
