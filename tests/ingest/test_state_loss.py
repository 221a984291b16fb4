"""Redis loses a quiet campaign's state while the consumer runs: it notices and rebuilds.

Found by the busy-night screens tests (issue 14), fixed with issue 8: after a FLUSHALL, a consumer
whose first write is an idle shard's health report used to re-create the meta hash without a
generation, and the campaign stayed "Recalculating" for good. Health writes now never create the
meta hash (ingest/lua/meta.lua, commit_batch.lua), so the next state check heals it.
"""

from __future__ import annotations

import time

import pytest

from fundraiser.selectors import campaign_config
from ingest.consumer import Consumer
from tests.background import GiftStream
from tests.factories import aggregates_settled, make_campaign
from tests.streamsim import StreamSim

pytestmark = pytest.mark.django_db


def step_until(consumer: Consumer, done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(min(consumer.step(), 0.05))
    return True


def test_a_quiet_campaign_whose_redis_was_flushed_is_rebuilt(store, monkeypatch):
    sim = StreamSim(shards=2, seed=1)
    sim.install(monkeypatch)
    GiftStream(sim.put, rate=1).give(50)
    config = campaign_config(make_campaign(endpoint_url=sim.endpoint_url))
    consumer = Consumer(store=store, consumer_id="c1", load_configs=lambda: [config])
    assert step_until(consumer, lambda: aggregates_settled(store, config.id), timeout=30)

    store.redis.flushdb()
    for run in consumer.runs.values():  # its state was just checked, its shards' health is due
        run.maintained = consumer.clock()
        for shard in run.held.values():
            shard.reported = 0.0

    # (50 items are rebuilt in well under a second once the loss is noticed)
    rebuilt = step_until(consumer, lambda: aggregates_settled(store, config.id), timeout=6)
    meta = store.meta(config.id)
    assert rebuilt, f"still not live; its meta hash has no generation: {'gen' not in meta}"
