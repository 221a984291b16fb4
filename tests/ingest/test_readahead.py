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


def counted_run(store, monkeypatch, settings, *, limit: int, shards: int, backlog: int, after_live: bool):
    """The consumer's reads ahead while it catches up a backlog (written after the campaign went
    live on an empty table, or before it started); the result is checked against a recount."""
    settings.INGEST_BATCH_LIMIT = limit
    sim = simulator(monkeypatch, shards=shards, seed=backlog, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    reads = CountingReads()
    consumer = Consumer(store=store, consumer_id="c1", reads=reads)
    if after_live:
        run_until(lambda: caught_up(store, campaign, sim), consumer)
    Donations(sim, seed=backlog, keys=30).write(backlog)
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    assert_matches_recount(store, campaign, sim)
    consumer.shut_down()
    return reads.started


def test_a_backlog_is_read_ahead_and_counted_exactly(store, monkeypatch, settings):
    started = counted_run(store, monkeypatch, settings, limit=10, shards=2, backlog=150, after_live=True)
    assert len(started) >= 10  # most of the backlog's batches were read ahead


def test_a_shard_at_its_tip_does_not_read_ahead(store, monkeypatch, settings):
    started = counted_run(store, monkeypatch, settings, limit=1000, shards=1, backlog=20, after_live=False)
    assert started == []  # no batch was full: a read made ahead would be stale when used


def live_with_a_backlog(store, monkeypatch, settings, seed: int):
    """A live campaign on one shard, reads made ahead at once, 40 gifts to read in batches of 5."""
    settings.INGEST_BATCH_LIMIT = 5
    sim = simulator(monkeypatch, shards=1, seed=seed, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    consumer = Consumer(store=store, consumer_id="c1", reads=readahead.ImmediateReads())
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    Donations(sim, seed=seed, keys=20).write(40)
    return sim, campaign, consumer


def test_a_read_made_ahead_from_where_the_shard_no_longer_stands_is_dropped(store, monkeypatch, settings):
    sim, campaign, consumer = live_with_a_backlog(store, monkeypatch, settings, seed=7)
    (state,) = next(iter(consumer.runs.values())).held.values()
    run_until(lambda: state.ahead is not None, consumer)  # a batch applied, the next read ahead
    state.iterator = None  # as after a refusal: the shard is opened again from its checkpoint
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    assert_matches_recount(store, campaign, sim)


def test_a_failed_read_ahead_fails_like_the_read_would(store, monkeypatch, settings):
    sim, campaign, consumer = live_with_a_backlog(store, monkeypatch, settings, seed=8)
    sim.inject("GetRecords", "ExpiredIteratorException", times=3)
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    assert_matches_recount(store, campaign, sim)
