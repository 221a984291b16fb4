"""The consumer against a DynamoDB Streams simulator (tests/streamsim.py) that shows what moto cannot:
many shards, splits, expiring iterators, trimming, throttling, lost leases."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict

import pytest

from fundraiser.selectors import campaign_config
from ingest.consumer import Consumer, stream_key
from ingest.store import END, START, Store
from tests.factories import make_campaign
from tests.ingest.faultkit import (  # noqa: F401 - fast_ingest is an autouse fixture
    aggregates,
    assert_each_record_applied_once,
    assert_matches_recount,
    assert_rebuilt_because,
    campaign_on,
    caught_up,
    expected,
    fast_ingest,
    rebuilt,
    record_applies,
    run_until,
    simulator,
)
from tests.streamsim import Donations, shard_of_iterator

pytestmark = pytest.mark.django_db


# --- iterators ----------------------------------------------------------------------------------
def test_an_expired_iterator_is_recreated_from_the_checkpoint_without_losing_or_doubling_records(
    store, monkeypatch
):
    sim = simulator(monkeypatch, shards=3, seed=1)
    campaign = campaign_on(sim)
    log = record_applies(store, monkeypatch)
    donations = Donations(sim, seed=1, keys=80)
    donations.write(200)
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer)

    sim.advance(16 * 60)  # every iterator the consumer holds is now past its 15 minutes
    donations.write(200)
    run_until(lambda: caught_up(store, campaign, sim), consumer)

    assert sim.calls["GetShardIterator"] >= 6  # 3 at the start, 3 again after the expiry
    assert_each_record_applied_once(log, sim)
    assert_matches_recount(store, campaign, sim)


# --- throttling ---------------------------------------------------------------------------------
def test_it_backs_off_when_throttled_and_still_applies_every_record_once(store, monkeypatch):
    sim = simulator(monkeypatch, shards=2, seed=2)
    campaign = campaign_on(sim)
    log = record_applies(store, monkeypatch)
    Donations(sim, seed=2, keys=60).write(300)
    sim.throttle("GetRecords", times=9)
    sim.throttle("DescribeStream", times=2)
    calls = []  # (time, shard, throttled)

    def watch(params):
        throttled = bool(sim._faults["GetRecords"])  # hooks run just before faults are served
        calls.append((time.monotonic(), shard_of_iterator(params["ShardIterator"]), throttled))

    sim.hooks["GetRecords"] = watch
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer, timeout=30)

    assert "LimitExceededException" in store.meta(campaign.pk).get("last_error", "")
    # botocore retries a throttled call itself (BOTO_CONFIG); when every attempt is throttled, the
    # consumer sees the error and must wait before calling that shard again.
    attempts = sim.make_clients()[1].meta.config.retries["total_max_attempts"]
    by_shard = defaultdict(list)
    for at, shard, throttled in calls:
        by_shard[shard].append((at, throttled))
    gave_up = 0
    for shard_calls in by_shard.values():
        run = 0
        for (at, throttled), (retry_at, _) in zip(shard_calls, shard_calls[1:], strict=False):
            run = run + 1 if throttled else 0
            if run and run % attempts == 0:
                gave_up += 1
                assert retry_at - at >= 0.05, "it called a throttled shard again at once"
    assert gave_up >= 2
    assert_each_record_applied_once(log, sim)
    assert_matches_recount(store, campaign, sim)


# --- trimming -----------------------------------------------------------------------------------
def test_records_trimmed_before_they_were_read_mark_the_campaign_for_a_rebuild_loudly(
    store, monkeypatch, caplog
):
    sim = simulator(monkeypatch, shards=1, seed=3)
    campaign = campaign_on(sim)
    donations = Donations(sim, seed=3, keys=50)
    donations.write(100)
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    assert store.meta(campaign.pk).get("status") != "needs_rebuild"

    donations.write(100)  # never read: the consumer is down for a day
    sim.advance(25 * 3600)
    donations.write(50)
    run_until(lambda: rebuilt(store, campaign, sim), consumer)

    assert_rebuilt_because(store, campaign, sim, sim.shard_ids()[0], "trimmed")
    assert any(r.levelno == logging.ERROR and "needs a rebuild" in r.getMessage() for r in caplog.records)


def test_records_trimmed_under_a_live_iterator_are_not_skipped_silently(store, monkeypatch):
    sim = simulator(monkeypatch, shards=1, seed=4, iterator_ttl=10 * 24 * 3600)
    campaign = campaign_on(sim)
    donations = Donations(sim, seed=4, keys=50)
    donations.write(50)
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer)

    donations.write(50)
    sim.advance(25 * 3600)  # the iterator is still valid, but what it points at is gone
    donations.write(10)
    run_until(lambda: rebuilt(store, campaign, sim), consumer)

    assert_rebuilt_because(store, campaign, sim, "trimmed")


def test_a_trimmed_checkpoint_that_lost_nothing_needs_no_rebuild(store, monkeypatch):
    sim = simulator(monkeypatch, shards=1, seed=5)
    campaign = campaign_on(sim)
    donations = Donations(sim, seed=5, keys=50)
    donations.write(50)
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer)

    sim.advance(25 * 3600)  # everything read was trimmed; nothing unread was
    donations.write(20)
    run_until(lambda: caught_up(store, campaign, sim), consumer)

    assert store.meta(campaign.pk).get("status") != "needs_rebuild"
    totals, _ = aggregates(store, campaign)
    assert totals == expected(campaign, sim).totals


def test_a_shard_that_left_the_stream_half_read_marks_the_campaign_for_a_rebuild(
    store, monkeypatch, settings
):
    settings.INGEST_BATCH_LIMIT = 10
    sim = simulator(monkeypatch, shards=1, seed=12, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    donations = Donations(sim, seed=12, keys=50)
    donations.write(60)
    parent = sim.shard_ids()[0]
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: store.checkpoints(campaign.pk, stream_key(sim.stream_arn)).get(parent), consumer)
    consumer.release_all()  # the worker goes away with the parent half read

    sim.split(parent)
    sim.advance(25 * 3600)  # the closed parent is trimmed away and leaves the stream
    assert parent not in sim.shard_ids()
    donations.write(40)
    later = Consumer(store=store, consumer_id="c2")
    run_until(lambda: rebuilt(store, campaign, sim), later)

    assert_rebuilt_because(store, campaign, sim, parent)
    assert parent not in store.checkpoints(campaign.pk, stream_key(sim.stream_arn))


def test_a_child_shard_whose_first_records_were_trimmed_unread_marks_a_rebuild(store, monkeypatch):
    sim = simulator(monkeypatch, shards=1, seed=13)
    campaign = campaign_on(sim)
    donations = Donations(sim, seed=13, keys=50)
    donations.write(30)
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    parent = sim.shard_ids()[0]
    children = sim.split(parent)
    donations.write(30)
    run_until(lambda: store.checkpoints(campaign.pk, stream_key(sim.stream_arn)).get(parent) == END, consumer)
    consumer.release_all()  # the parent is done; nobody reads the children for a day
    positions = store.checkpoints(campaign.pk, stream_key(sim.stream_arn))
    assert all(positions.get(child) in (None, START) for child in children)  # known, never read

    sim.advance(25 * 3600)
    donations.write(30)
    later = Consumer(store=store, consumer_id="c2")
    run_until(lambda: rebuilt(store, campaign, sim), later)

    reason = store.meta(campaign.pk)["last_rebuild_reason"]
    assert any(child in reason for child in children), reason
    assert_matches_recount(store, campaign, sim)


def test_a_stream_enabled_later_clears_the_no_stream_status(store, monkeypatch):
    sim = simulator(monkeypatch, shards=2, seed=14, stream_enabled=False)
    campaign = campaign_on(sim)
    consumer = Consumer(store=store, consumer_id="c1")
    consumer.step()
    assert store.meta(campaign.pk)["status"] == "no_stream"

    sim.enable_stream()
    Donations(sim, seed=14, keys=30).write(40)
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    assert store.meta(campaign.pk)["status"] == "live"
    assert_matches_recount(store, campaign, sim)


# --- lineage ------------------------------------------------------------------------------------
def test_a_child_shard_is_never_applied_before_its_parent_is_drained(store, monkeypatch, settings):
    settings.INGEST_BATCH_LIMIT = 25  # parents take many batches
    sim = simulator(monkeypatch, shards=4, seed=6)
    campaign = campaign_on(sim)
    log = record_applies(store, monkeypatch)
    donations = Donations(sim, seed=6, keys=150)
    donations.write(400)
    sim.split_all()
    donations.write(400)  # children fill up before anyone has read their parents
    sim.split_all()
    sim.split(children=1)  # and one rollover
    donations.write(400)
    consumers = [Consumer(store=store, consumer_id=f"c{n}") for n in range(3)]
    run_until(lambda: caught_up(store, campaign, sim), *consumers, timeout=40)

    ok = [entry for entry in log if entry.status == "ok"]
    position = {}  # shard -> index of the batch that applied its last record
    first = {}  # shard -> index of its first batch with records
    for index, entry in enumerate(ok):
        if entry.changes:
            first.setdefault(entry.shard, index)
            position[entry.shard] = index
    children = [sid for sid in sim.shard_ids() if sim.shard(sid).parent_id in position]
    assert len(children) >= 16
    for child in children:
        if child in first:
            assert first[child] > position[sim.shard(child).parent_id], f"{child} was read before its parent"
    seen_by_item = defaultdict(list)
    for entry in ok:
        for item, seq in entry.changes:
            seen_by_item[item].append(seq)
    assert all(seqs == sorted(seqs) for seqs in seen_by_item.values()), "an item went back in time"
    assert len({len(seq.lstrip("0")) for seqs in seen_by_item.values() for seq in seqs}) >= 2
    assert_each_record_applied_once(log, sim)
    assert_matches_recount(store, campaign, sim)


# --- discovery ----------------------------------------------------------------------------------
def test_it_finds_every_shard_when_describe_stream_takes_several_pages(store, monkeypatch):
    sim = simulator(monkeypatch, shards=130, seed=7, empty_reads=(0, 0))
    for _ in range(70):
        sim.split()  # 270 shards: three pages of DescribeStream
    campaign = campaign_on(sim)
    log = record_applies(store, monkeypatch)
    Donations(sim, seed=7, keys=3000).write(3000)
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer, timeout=60)

    assert len(sim.shard_ids()) == 270
    last_page = sim.shard_ids()[200:]
    assert {entry.shard for entry in log if entry.changes} & set(last_page)
    assert_each_record_applied_once(log, sim)
    assert_matches_recount(store, campaign, sim)


def test_a_missing_table_is_reported_and_picked_up_once_it_exists(store, monkeypatch):
    sim = simulator(monkeypatch, shards=2, seed=8)
    campaign = make_campaign(endpoint_url=sim.endpoint_url, table_name="Elsewhere")
    consumer = Consumer(store=store, consumer_id="c1")
    consumer.step()
    assert "ResourceNotFoundException" in store.meta(campaign.pk)["last_error"]

    Donations(sim, seed=8, keys=30).write(60)
    campaign.table_name = sim.table_name
    campaign.save()  # the consumer reloads campaigns every INGEST_DISCOVER_SECONDS
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    assert_matches_recount(store, campaign, sim)


def test_a_stream_that_disappears_mid_read_is_reported_and_nothing_is_lost(store, monkeypatch):
    sim = simulator(monkeypatch, shards=2, seed=9)
    campaign = campaign_on(sim)
    Donations(sim, seed=9, keys=30).write(60)
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    before = aggregates(store, campaign)

    sim.delete_table()
    for _ in range(5):
        time.sleep(consumer.step())

    assert "ResourceNotFoundException" in store.meta(campaign.pk)["last_error"]
    assert aggregates(store, campaign) == before
    assert not any(run.held for run in consumer.runs.values())


# --- leases -------------------------------------------------------------------------------------
def test_a_paused_worker_that_lost_its_lease_cannot_write_afterwards(store, monkeypatch, settings):
    settings.INGEST_LEASE_SECONDS = 1.0
    sim = simulator(monkeypatch, shards=1, seed=10, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    log = record_applies(store, monkeypatch)
    donations = Donations(sim, seed=10, keys=40)
    donations.write(30)
    shard_id = sim.shard_ids()[0]
    paused, resume = threading.Event(), threading.Event()

    def pause_worker_a(params):
        if threading.current_thread().name == "worker-a" and not resume.is_set():
            assert shard_of_iterator(params["ShardIterator"]) == shard_id
            paused.set()
            resume.wait(10)

    sim.hooks["GetRecords"] = pause_worker_a
    configs = [campaign_config(campaign)]  # worker a runs in a thread: no database there
    worker_a = Consumer(store=store, consumer_id="a", load_configs=lambda: configs)
    worker_b = Consumer(store=store, consumer_id="b", load_configs=lambda: configs)
    thread = threading.Thread(target=worker_a.step, name="worker-a")
    thread.start()
    assert paused.wait(10)  # a holds the lease and is stuck inside GetRecords

    run_until(lambda: any(e.owner == "b" and e.status == "ok" and e.changes for e in log), worker_b)
    checkpoint = store.checkpoints(campaign.pk, stream_key(sim.stream_arn))[shard_id]
    taken_over = aggregates(store, campaign)
    donations.write(20)  # a will read these too when it wakes up: b has not applied them yet

    resume.set()
    thread.join(10)
    late = [e for e in log if e.owner == "a"]
    assert [e.status for e in late] == ["lease_lost"]
    assert len(late[0].changes) > len([e for e in log if e.owner == "b"][0].changes)
    assert store.checkpoints(campaign.pk, stream_key(sim.stream_arn))[shard_id] == checkpoint
    assert aggregates(store, campaign) == taken_over

    run_until(lambda: caught_up(store, campaign, sim), worker_a, worker_b)
    assert_each_record_applied_once(log, sim)
    assert_matches_recount(store, campaign, sim)


def test_a_shard_handed_over_resumes_where_its_last_holder_committed(store, redis_client, monkeypatch):
    sim = simulator(monkeypatch, shards=1, seed=15, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    donations = Donations(sim, seed=15, keys=40)
    donations.write(30)
    store_b = Store(redis_client)
    log = record_applies(store, monkeypatch)
    record_applies(store_b, monkeypatch, log)
    worker_a = Consumer(store=store, consumer_id="a")
    worker_b = Consumer(store=store_b, consumer_id="b")
    run_until(lambda: caught_up(store, campaign, sim), worker_b)
    real_lease_owners = store.lease_owners

    def hand_over_meanwhile(campaign_id, shard_ids):
        # a has just read the checkpoints; b commits one more batch and lets the shard go.
        donations.write(20)
        run_until(lambda: caught_up(store, campaign, sim), worker_b)
        worker_b.release_all()
        monkeypatch.setattr(store, "lease_owners", real_lease_owners)
        return real_lease_owners(campaign_id, shard_ids)

    monkeypatch.setattr(store, "lease_owners", hand_over_meanwhile)
    run_until(lambda: worker_a.runs and worker_a.runs[campaign.pk].held, worker_a)
    donations.write(10)
    run_until(lambda: caught_up(store, campaign, sim), worker_a)

    assert {e.owner for e in log if e.changes} == {"a", "b"}
    assert_each_record_applied_once(log, sim)
    assert_matches_recount(store, campaign, sim)


def test_leases_outlive_a_step_longer_than_the_lease(store, monkeypatch, settings, caplog):
    settings.INGEST_LEASE_SECONDS = 1.0
    sim = simulator(monkeypatch, shards=40, seed=16, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    log = record_applies(store, monkeypatch)
    donations = Donations(sim, seed=16, keys=400)
    donations.write(400)
    sim.hooks["GetRecords"] = lambda params: time.sleep(0.04)  # 40 shards: a step takes 1.6 s
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    donations.write(400)
    run_until(lambda: caught_up(store, campaign, sim), consumer)

    assert not [e for e in log if e.status != "ok"]
    assert "lost its lease" not in caplog.text
    assert_each_record_applied_once(log, sim)


# --- everything at once -------------------------------------------------------------------------
def test_many_shards_and_two_generations_of_splits_add_up_to_a_recount(store, monkeypatch, settings):
    settings.INGEST_BATCH_LIMIT = 100
    sim = simulator(monkeypatch, shards=12, seed=11)
    campaign = campaign_on(sim)
    log = record_applies(store, monkeypatch)
    donations = Donations(sim, seed=11, keys=800)
    consumers = [Consumer(store=store, consumer_id=f"c{n}") for n in range(3)]
    for round_ in range(12):
        donations.write(500)
        if round_ in (3, 7):
            sim.split_all()
        if round_ == 9:
            sim.split(children=1)
        for consumer in consumers:
            consumer.step()
    run_until(lambda: caught_up(store, campaign, sim), *consumers, timeout=60)

    assert len(sim.shard_ids()) >= 12 + 24 + 48
    assert_each_record_applied_once(log, sim)
    assert_matches_recount(store, campaign, sim)
    assert expected(campaign, sim).totals["raised"] > 0
