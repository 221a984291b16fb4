"""What a page or screen shows first: the campaign's numbers in the same JSON shape as the events
that follow (dashboard/payloads.py), read from Redis in one round trip (one MULTI of the campaign's
meta and metric hashes, all in its hash slot)."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from ingest.config import CampaignConfig
from ingest.health import public_status
from ingest.rebuild import build_progress
from ingest.store import CampaignMeta, MetricValues, Snapshot, Store

from .payloads import progress_payload, update_payload

# campaign id -> its live generation when last read: the metric keys to read along with the meta.
# A rebuild swaps generations; the read that sees the swap reads again (the only second round trip).
_live_generations: dict[int, str] = {}


@cache
def store() -> Store:
    return Store()


def _queue(pipe, config: CampaignConfig) -> tuple[str, list[str]]:
    gen = _live_generations.get(config.id, "1")
    slugs = list(config.displays)
    pipe.hgetall(store().meta_key(config.id))
    for slug in slugs:
        pipe.hgetall(store().metric_key(config.id, gen, slug))
    return gen, slugs


def _snapshot(config: CampaignConfig, gen: str, slugs: list[str], raw: list) -> Snapshot | None:
    """The snapshot read, or None when the live generation was not the one assumed."""
    meta = CampaignMeta(raw[0])
    if meta.live == "0":  # nothing live (being rebuilt): show no numbers, not zeros
        return Snapshot(meta, metrics={})
    if meta.live != gen:
        _live_generations[config.id] = meta.live
        return None
    return Snapshot(meta, {s: MetricValues.from_hash(r) for s, r in zip(slugs, raw[1:], strict=True)})


def read_snapshot(config: CampaignConfig) -> Snapshot:
    while True:
        pipe = store().redis.pipeline(transaction=True)
        gen, slugs = _queue(pipe, config)
        snapshot = _snapshot(config, gen, slugs, pipe.execute())
        if snapshot is not None:
            return snapshot


async def read_snapshot_async(config: CampaignConfig) -> Snapshot:
    while True:
        pipe = async_redis().pipeline(transaction=True)
        gen, slugs = _queue(pipe, config)
        snapshot = _snapshot(config, gen, slugs, await pipe.execute())
        if snapshot is not None:
            return snapshot


_async_clients: dict[int, object] = {}


def async_redis():
    """One asyncio client per event loop (a client is bound to the loop it first ran in)."""
    import asyncio

    from redis.asyncio import Redis

    loop = asyncio.get_running_loop()
    client = _async_clients.get(id(loop))
    if client is None:
        client = _async_clients[id(loop)] = Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return client


def snapshot_payload(config: CampaignConfig, snapshot: Snapshot) -> dict:
    return update_payload(
        config,
        snapshot.version,
        snapshot.metrics,
        epoch=snapshot.epoch,
        status=snapshot_status(config, snapshot),
    )


def snapshot_status(config: CampaignConfig, snapshot: Snapshot) -> str:
    """live, recalculating or paused (ingest.health.public_status). The hour's samples are read only
    for a campaign that has set records aside since its numbers went live: without any, most cannot
    have been (the meta hash, already read, says)."""
    state = snapshot.state
    if state.shown_status == "live" and state.read_since_live()[1]:
        return public_status(store(), config.id, state)
    return state.shown_status


def config_snapshot(config: CampaignConfig) -> dict:
    snapshot = read_snapshot(config)
    payload = snapshot_payload(config, snapshot)
    if payload["status"] == "recalculating":
        progress = recalculation_progress(store(), config.id)
        if progress is not None:
            payload["progress"] = progress
    return payload


def recalculation_progress(store: Store, campaign_id: int) -> dict | None:
    """The rebuild's own progress (the same shape as the worker's `progress` events), if one runs."""
    build = build_progress(store, campaign_id)
    if build is None:
        return None
    return progress_payload(items=build.items, estimate=build.estimate, done=build.done)
