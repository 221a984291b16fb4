"""A shard that is behind reads its next batch while the last one is committed (ingest/readahead.py)."""

from __future__ import annotations

import pytest

from ingest import readahead
from ingest.consumer import Consumer
from tests.ingest.faultkit import (  # noqa: F401 - fast_ingest is an autouse fixture
    assert_matches_recount,
    campaign_on,
    caught_up,
    fast_ingest,
    run_until,
    simulator,
)
from tests.streamsim import Donations

pytestmark = pytest.mark.django_db


class CountingReads(readahead.ThreadedReads):
    def __init__(self) -> None:
        super().__init__(2)
        self.started: list[str] = []

    def start(self, read, iterator, limit):
        self.started.append(iterator)
        return super().start(read, iterator, limit)


def test_a_backlog_is_read_ahead_and_counted_exactly(store, monkeypatch, settings):
    settings.INGEST_BATCH_LIMIT = 10
    sim = simulator(monkeypatch, shards=2, seed=5, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    reads = CountingReads()
    consumer = Consumer(store=store, consumer_id="c1", reads=reads)
    run_until(lambda: caught_up(store, campaign, sim), consumer)  # live on an empty table
    Donations(sim, seed=5, keys=30).write(150)
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    assert_matches_recount(store, campaign, sim)
    assert len(reads.started) >= 10  # most of the backlog's batches were read ahead
    consumer.shut_down()


def test_a_shard_at_its_tip_does_not_read_ahead(store, monkeypatch, settings):
    settings.INGEST_BATCH_LIMIT = 1000
    sim = simulator(monkeypatch, shards=1, seed=6, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    reads = CountingReads()
    consumer = Consumer(store=store, consumer_id="c1", reads=reads)
    Donations(sim, seed=6, keys=10).write(20)
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    assert_matches_recount(store, campaign, sim)
    assert reads.started == []  # no batch was full: a read made ahead would be stale when used
    consumer.shut_down()


def test_a_read_made_ahead_from_where_the_shard_no_longer_stands_is_dropped(store, monkeypatch, settings):
    settings.INGEST_BATCH_LIMIT = 5
    sim = simulator(monkeypatch, shards=1, seed=7, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    consumer = Consumer(store=store, consumer_id="c1", reads=readahead.ImmediateReads())
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    Donations(sim, seed=7, keys=20).write(40)
    (state,) = next(iter(consumer.runs.values())).held.values()
    run_until(lambda: state.ahead is not None, consumer)  # a batch applied, the next read ahead
    state.iterator = None  # as after a refusal: the shard is opened again from its checkpoint
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    assert_matches_recount(store, campaign, sim)


def test_a_failed_read_ahead_fails_like_the_read_would(store, monkeypatch, settings):
    settings.INGEST_BATCH_LIMIT = 5
    sim = simulator(monkeypatch, shards=1, seed=8, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    consumer = Consumer(store=store, consumer_id="c1", reads=readahead.ImmediateReads())
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    Donations(sim, seed=8, keys=20).write(40)
    sim.inject("GetRecords", "ExpiredIteratorException", times=3)
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    assert_matches_recount(store, campaign, sim)
