"""Shared by the fault tests: a stream simulator installed for the consumer, a recount to compare
with, a record of every batch the consumers applied, and loops that step consumers until done."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from fundraiser.selectors import campaign_config
from ingest.consumer import Consumer
from ingest.metrics import recount
from ingest.records import decode_image
from tests.factories import aggregates_settled, make_campaign
from tests.streamsim import StreamSim, stream_caught_up


@pytest.fixture(autouse=True)
def fast_ingest(settings):
    settings.INGEST_IDLE_POLL_SECONDS = 0.01
    settings.INGEST_DISCOVER_SECONDS = 0.5


def simulator(monkeypatch, **options) -> StreamSim:
    sim = StreamSim(**options)
    sim.install(monkeypatch)
    return sim


def campaign_on(sim: StreamSim):
    return make_campaign(endpoint_url=sim.endpoint_url, table_name=sim.table_name)


@dataclass
class Applied:
    owner: str
    shard: str
    status: str
    changes: list[tuple[str, str]]  # (item key, zero-padded sequence)


def record_applies(store, monkeypatch, log: list[Applied] | None = None) -> list[Applied]:
    """Every apply_batch call, in order, with who made it and what it answered."""
    log = [] if log is None else log
    original = store.apply_batch

    def apply_batch(campaign_id, **kwargs):
        changes = list(kwargs.pop("changes", ()))
        result = original(campaign_id, changes=changes, **kwargs)
        if "position" not in kwargs:
            return result  # a backfill scan page, not a stream batch
        log.append(
            Applied(
                kwargs["lease"][1],
                kwargs["position"].shard,
                result.status,
                [(c.item_key, c.sequence) for c in changes],
            )
        )
        return result

    monkeypatch.setattr(store, "apply_batch", apply_batch)
    return log


def expected(campaign, sim: StreamSim):
    config = campaign_config(campaign)
    return recount(config.specs, [decode_image(image) for image in sim.images()])


def aggregates(store, campaign):
    config = campaign_config(campaign)
    snap = store.snapshot(campaign.pk, [s.slug for s in config.specs])
    return (
        {slug: v.total for slug, v in snap.metrics.items()},
        {slug: v.groups for slug, v in snap.metrics.items()},
    )


def assert_matches_recount(store, campaign, sim: StreamSim) -> None:
    totals, groups = aggregates(store, campaign)
    truth = expected(campaign, sim)
    assert totals == truth.totals
    assert groups == truth.groups


def caught_up(store, campaign, sim: StreamSim) -> bool:
    """Every record in the stream is behind a checkpoint (closed shards: END), and the aggregates
    are settled: a generation is live and none is being built."""
    return aggregates_settled(store, campaign.pk) and stream_caught_up(store, campaign.pk, sim)


def rebuilt(store, campaign, sim: StreamSim) -> bool:
    """Caught up, and the rebuild that lost records call for has been done."""
    return caught_up(store, campaign, sim) and store.meta(campaign.pk).get("status") == "live"


def assert_rebuilt_because(store, campaign, sim: StreamSim, *words: str) -> None:
    """The loss was reported with its reason, and the rebuild from the table made the numbers
    exact again: nothing was skipped silently, nothing stayed wrong."""
    reason = store.meta(campaign.pk)["last_rebuild_reason"]
    assert all(word in reason for word in words), reason
    assert_matches_recount(store, campaign, sim)


def run_until(condition: Callable[[], bool], *consumers: Consumer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the consumers did not catch up in time"
        pause = min(consumer.step() for consumer in consumers)
        time.sleep(min(pause, 0.02))


def stream_sequences(sim: StreamSim) -> Counter:
    return Counter(
        r["dynamodb"]["SequenceNumber"].rjust(40, "0")
        for shard_id in sim.shard_ids()
        for r in sim.shard_records(shard_id)
    )


def applied_sequences(log: list[Applied]) -> Counter:
    """How often each record was applied by a batch that was accepted."""
    return Counter(seq for entry in log if entry.status == "ok" for _, seq in entry.changes)


def assert_each_record_applied_once(log: list[Applied], sim: StreamSim) -> None:
    applied = applied_sequences(log)
    assert applied == stream_sequences(sim), "a record was lost or applied twice"


def wait_until(condition: Callable[[], bool], *consumers: Consumer, timeout: float = 20.0) -> bool:
    """Step the consumers until condition() holds; False (no assertion) when the time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        pause = min(consumer.step() for consumer in consumers)
        time.sleep(min(pause, 0.02))
    return True


def raw_redis(client):
    """A client on the same server that returns bytes (DUMP payloads are binary)."""
    import redis

    return redis.Redis(
        connection_pool=redis.ConnectionPool(
            **{**client.connection_pool.connection_kwargs, "decode_responses": False}
        )
    )


def redis_snapshot(client) -> dict[bytes, tuple[int, bytes]]:
    """Every key with its DUMP payload and TTL: what a replica holds at this moment."""
    raw = raw_redis(client)
    return {key: (raw.pttl(key), raw.dump(key)) for key in raw.scan_iter(count=1000)}


def redis_restore(client, snapshot: dict[bytes, tuple[int, bytes]]) -> None:
    """Fail over to a replica that holds `snapshot`: everything written since is gone."""
    raw = raw_redis(client)
    raw.flushdb()
    for key, (ttl, payload) in snapshot.items():
        raw.restore(key, max(ttl, 0), payload, replace=True)


def running_campaign(monkeypatch, store, *, seed: int, shards: int, writes: int, keys: int = 40):
    """A campaign on a fresh simulated stream, `writes` donations in, one consumer caught up."""
    from tests.streamsim import Donations

    sim = simulator(monkeypatch, shards=shards, seed=seed, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    donations = Donations(sim, seed=seed, keys=keys)
    donations.write(writes)
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    return sim, campaign, donations, consumer
