"""Six fault paths that once ended `live` and wrong, or stuck, each written from its scenario.

Each test drives the real consumer (and scanner) against the stream simulator and a real Redis,
makes the fault happen the way production would, and then asks for the only acceptable outcome:
the campaign heals to exactly a recount of the table, or says loudly why it cannot yet.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from fundraiser.selectors import campaign_config
from ingest.consumer import Consumer, stream_key
from ingest.rebuild import build_progress, rebuild_start
from ingest.records import decode_image
from ingest.scans import run_backfill
from tests.ingest.faultkit import (  # noqa: F401 - fast_ingest is an autouse fixture
    aggregates,
    assert_matches_recount,
    assert_rebuilt_because,
    campaign_on,
    caught_up,
    expected,
    fast_ingest,
    rebuilt,
    redis_restore,
    redis_snapshot,
    run_until,
    running_campaign,
    simulator,
    wait_until,
)
from tests.streamsim import Donations

pytestmark = pytest.mark.django_db


class Clock:
    """A monotonic clock the test moves: the consumer's timers fire only when it says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def step(consumer: Consumer, clock: Clock, seconds: float) -> None:
    clock.now += seconds
    consumer.step()


def gift(key: str, amount: str = "10", platform: str = "Website", email: str = "") -> dict:
    return {
        "id": key,
        "amount": Decimal(amount) if amount.replace(".", "").isdigit() else amount,
        "platform": platform,
        "email": email or f"{key}@example.org",
    }


# 1 ------------------------------------------------------------------------------------------------
def test_a_health_write_that_lands_first_after_redis_lost_its_data_cannot_stop_self_heal(
    store, redis_client, monkeypatch
):
    sim = simulator(monkeypatch, shards=2, seed=21, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    Donations(sim, seed=21, keys=40).write(60)
    clock = Clock()
    consumer = Consumer(store=store, consumer_id="c1", clock=clock)
    deadline = time.monotonic() + 20
    while not caught_up(store, campaign, sim):
        assert time.monotonic() < deadline, "the first backfill did not finish"
        step(consumer, clock, 0.1)
        time.sleep(0.01)
    step(consumer, clock, 1.0)  # discovery and maintenance have just run

    redis_client.flushdb()  # a restart without persistence
    time.sleep(1.05)  # each shard's health is due again...
    step(consumer, clock, 0.02)  # ...and is written by an empty read, before maintenance looks

    Donations(sim, seed=121, keys=40).write(20)  # gifts keep coming meanwhile
    healed_by = time.monotonic() + 10
    while not (caught_up(store, campaign, sim) and store.meta(campaign.pk).get("status") == "live"):
        if time.monotonic() > healed_by:
            pytest.fail(f"not healed within 10 s; meta: {store.meta(campaign.pk)}")
        step(consumer, clock, 0.1)
        time.sleep(0.01)
    assert_matches_recount(store, campaign, sim)


# 2 ------------------------------------------------------------------------------------------------
def test_a_failover_to_a_replica_that_missed_the_last_batch_applies_that_batch_again(
    store, redis_client, monkeypatch
):
    sim, campaign, donations, consumer = running_campaign(
        monkeypatch, store, seed=22, shards=2, writes=40, keys=40
    )
    replica = redis_snapshot(redis_client)  # asynchronous replication: the replica is one batch behind

    donations.write(15)
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    redis_restore(redis_client, replica)  # the primary dies; the replica is promoted
    donations.write(10)

    wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=15)
    assert store.meta(campaign.pk).get("status") == "live"
    assert_matches_recount(store, campaign, sim)


# 3 ------------------------------------------------------------------------------------------------
def test_an_idle_shard_that_left_the_stream_unread_puts_the_campaign_in_needs_rebuild(store, monkeypatch):
    sim = simulator(monkeypatch, shards=2, seed=23, empty_reads=(0, 0))
    busy, idle = sim.shard_ids()
    campaign = campaign_on(sim)
    for key in sim.keys_in_shard(busy, 20):
        sim.put(gift(key))
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    consumer.release_all()  # the workers go down; `idle` was only ever read empty

    for key in sim.keys_in_shard(idle, 14, prefix="unread"):
        sim.put(gift(key, "25"))  # gifts nobody reads
    children = sim.split(idle)
    sim.advance(25 * 3600)  # the closed shard's records are trimmed: it leaves the stream
    assert idle not in sim.shard_ids()

    later = Consumer(store=store, consumer_id="c2")
    stream = stream_key(sim.stream_arn)
    wait_until(
        lambda: (
            set(children) <= set(store.checkpoints(campaign.pk, stream)) and rebuilt(store, campaign, sim)
        ),
        later,
        timeout=20,
    )
    assert_rebuilt_because(store, campaign, sim, idle)


# 4 ------------------------------------------------------------------------------------------------
def test_a_scanner_from_before_redis_lost_its_data_cannot_write_into_the_new_generation(
    store, redis_client, monkeypatch, settings
):
    settings.INGEST_SCAN_PAGE = 10
    settings.INGEST_SCAN_SEGMENTS = 1
    sim = simulator(monkeypatch, shards=1, seed=24, stream_enabled=False)
    Donations(sim, seed=24, keys=120).write(200)  # an existing table: its history is in no stream
    sim.enable_stream()
    campaign = campaign_on(sim)
    config = campaign_config(campaign)
    store.ensure_meta(campaign.pk)
    # A consumer has found the table's stream (as its discovery records it) and started the first
    # backfill; the scanner below is the one it runs.
    store.set_meta(campaign.pk, stream_arn=sim.stream_arn, stream=stream_key(sim.stream_arn))
    rebuild_start(store=store, config=config, reason="no aggregates yet")
    calls, paused, resume = [0], threading.Event(), threading.Event()

    def pause_the_third_page(params):
        calls[0] += 1
        if calls[0] == 3:
            paused.set()
            resume.wait(10)

    sim.hooks["Scan"] = pause_the_third_page
    old = threading.Thread(
        target=run_backfill,
        kwargs={"store": store, "config": config, "owner": "old-scanner", "stop": threading.Event()},
    )
    old.start()
    assert paused.wait(10)  # two pages are in; the third is in flight

    redis_client.flushdb()
    store.ensure_meta(campaign.pk)  # what the consumer does when it notices the loss
    rebuild_start(store=store, config=config, reason="aggregates were lost from Redis")
    resume.set()  # the old scanner wakes up with its page and its segment's position
    old.join(20)

    consumer = Consumer(store=store, consumer_id="c1")
    assert wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=20)
    assert_matches_recount(store, campaign, sim)


# 5 ------------------------------------------------------------------------------------------------
def test_a_scan_that_failed_does_not_stop_the_next_scan_of_the_same_consumer(store, monkeypatch, settings):
    settings.INGEST_SCAN_PAGE = 5
    sim = simulator(monkeypatch, shards=1, seed=25, stream_enabled=False)
    Donations(sim, seed=25, keys=200).write(300)
    sim.enable_stream()
    sim.hooks["Scan"] = lambda params: time.sleep(0.01)  # a scan takes a while
    campaign = campaign_on(sim)
    config = campaign_config(campaign)
    consumer = Consumer(store=store, consumer_id="c1")
    run_until(lambda: caught_up(store, campaign, sim), consumer, timeout=30)

    rebuild_start(store=store, config=config, reason="first request", replace=True)
    run_until(lambda: (build_progress(store, campaign.pk) or build_progress).items > 0, consumer)
    rebuild_start(store=store, config=config, reason="second request", replace=True)  # replaces it

    assert wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=15), store.meta(campaign.pk)
    assert store.meta(campaign.pk)["last_rebuild_reason"] == "second request"
    assert_matches_recount(store, campaign, sim)


# 6 ------------------------------------------------------------------------------------------------
def test_a_gift_that_would_overflow_a_total_is_set_aside_and_no_batch_is_half_written(
    store, monkeypatch, settings
):
    settings.INGEST_REJECTS_KEPT = 20_000
    sim = simulator(monkeypatch, shards=1, seed=26, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    largest = "9999999999999.99"  # 999,999,999,999,999 cents: the largest single gift accepted
    for n in range(9_400):  # together far past what a 64-bit Redis integer holds
        sim.put(gift(f"huge-{n}", largest, "Website", f"donor{n % 50}@example.org"))
    for n in range(20):
        sim.put(gift(f"later-{n}", "12.50", "Phone"))  # ordinary gifts after them still count
    consumer = Consumer(store=store, consumer_id="c1")
    assert wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=60)

    rejects = store.recent_rejects(campaign.pk, limit=20_000)
    set_aside = {decode_image(r["keys"])["id"] for r in rejects}
    assert set_aside and all(key.startswith("huge-") for key in set_aside)
    assert all("too large" in r["reason"] for r in rejects), rejects[0]
    truth = expected_without(campaign, sim, set_aside)
    totals, groups = aggregates(store, campaign)
    assert totals == truth.totals  # every metric and group in step: no batch was half applied
    assert groups == truth.groups
    assert groups["raised"]["Phone"] == 25_000  # 20 x $12.50
    assert store.meta(campaign.pk)["status"] == "live"


def expected_without(campaign, sim, keys: set[str]):
    from ingest.metrics import recount

    items = [decode_image(image) for image in sim.images()]
    return recount(campaign_config(campaign).specs, [i for i in items if i["id"] not in keys])


# Risks closed with the six paths --------------------------------------------------------------------
def test_a_child_shard_numbered_below_its_parent_is_reported_loudly_and_rebuilt(store, monkeypatch):
    sim, campaign, donations, consumer = running_campaign(
        monkeypatch, store, seed=31, shards=1, writes=40, keys=30
    )

    parent = sim.shard_ids()[0]
    sim.split(parent, numbered_from=sim.shard(parent).starting)
    donations.write(60)  # the same items again, under smaller sequence numbers than before
    wait_until(lambda: rebuilt(store, campaign, sim), consumer, timeout=20)

    assert_rebuilt_because(store, campaign, sim, parent, "per-item order")


def test_a_damaged_aggregate_is_rebuilt_and_no_batch_is_half_written(store, redis_client, monkeypatch):
    sim, campaign, donations, consumer = running_campaign(
        monkeypatch, store, seed=32, shards=1, writes=30, keys=30
    )
    gen = store.meta(campaign.pk)["gen"]
    before = store.checkpoints(campaign.pk, stream_key(sim.stream_arn))

    redis_client.hset(f"{store.base(campaign.pk)}:g{gen}:m:raised", "g:Phone", "not a number")
    items_before = redis_client.hgetall(f"{store.base(campaign.pk)}:g{gen}:items")
    donations.write(30)
    consumer.step()  # the batch is refused whole: no item state, no checkpoint moved
    assert redis_client.hgetall(f"{store.base(campaign.pk)}:g{gen}:items") in (items_before, {})
    assert store.checkpoints(campaign.pk, stream_key(sim.stream_arn)) in (before, {})

    wait_until(lambda: rebuilt(store, campaign, sim), consumer, timeout=20)
    assert "damaged" in store.meta(campaign.pk)["last_rebuild_reason"]
    assert_matches_recount(store, campaign, sim)


def test_a_batch_script_that_cannot_run_writes_nothing_and_the_consumer_carries_on(
    store, redis_client, monkeypatch
):
    sim = simulator(monkeypatch, shards=1, seed=33, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    consumer = Consumer(store=store, consumer_id="c1")
    Donations(sim, seed=33, keys=30).write(20)
    run_until(lambda: caught_up(store, campaign, sim), consumer)
    before = aggregates(store, campaign)
    rejects = f"{store.base(campaign.pk)}:rejects"
    redis_client.delete(rejects)
    redis_client.set(rejects, "a string where a list belongs")  # LPUSH would fail halfway
    sim.put(gift("broken", "ten"))  # a record that must be set aside
    sim.put(gift("fine", "5"))

    for _ in range(5):
        time.sleep(consumer.step())  # never raises: the failure is reported and retried
    assert aggregates(store, campaign) == before  # nothing of the batch landed
    assert "delete it" in store.meta(campaign.pk).get("last_error", "")

    redis_client.delete(rejects)  # an operator repairs Redis
    wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=20)
    assert_matches_recount(store, campaign, sim)
    assert [r["reason"] for r in store.recent_rejects(campaign.pk)] == ["amount 'ten' is not a number"]


# Found by review: the edges of the fixes above --------------------------------------------------
LARGEST = "10000000000000.00"  # 10^15 cents: the largest single value accepted


def fill(sim, prefix: str, count: int, amount: str) -> None:
    for n in range(count):
        sim.put(gift(f"{prefix}-{n}", amount, email=f"d{n % 20}@example.org"))


def test_refunds_near_the_limit_neither_overflow_halfway_nor_stop_the_consumer(
    store, redis_client, monkeypatch, settings
):
    # Taking negative contributions away raises a total too: every change is checked, removals included.
    settings.INGEST_REJECTS_KEPT = 100
    sim = simulator(monkeypatch, shards=1, seed=82, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    fill(sim, "plus", 4611, LARGEST)
    fill(sim, "refund", 4613, "-" + LARGEST)
    fill(sim, "more", 4613, LARGEST)
    consumer = Consumer(store=store, consumer_id="c1")
    assert wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=120)
    assert store.recent_rejects(campaign.pk) == []  # never past the limit on the way

    for n in range(4613):
        sim.delete({"id": f"refund-{n}"})
    assert wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=60)
    gen = store.meta(campaign.pk)["gen"]
    raised = redis_client.hgetall(f"{store.base(campaign.pk)}:g{gen}:m:raised")
    assert raised["t"] == raised["g:Website"]  # one group: no batch was half written
    assert abs(int(raised["t"])) <= 2**62
    assert store.meta(campaign.pk)["status"] == "live"
    assert all("too large" in r["reason"] for r in store.recent_rejects(campaign.pk))


def test_gifts_that_overflow_one_after_another_in_a_batch_are_all_set_aside(store, monkeypatch, settings):
    settings.INGEST_REJECTS_KEPT = 100
    sim = simulator(monkeypatch, shards=1, seed=81, empty_reads=(0, 0))
    campaign = campaign_on(sim)
    sim.put(gift("A", "-" + LARGEST))
    sim.put(gift("B", "-" + LARGEST))
    fill(sim, "f", 4612, LARGEST)
    sim.put(gift("f-last", "1860184273879.04"))  # the total is now 2^62 - 1.5 x 10^15 cents
    consumer = Consumer(store=store, consumer_id="c1")
    assert wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=120)
    assert aggregates(store, campaign)[0]["raised"] == 2**62 - 1_500_000_000_000_000

    sim.put(gift("A", LARGEST))  # one batch, each change pushing past the limit once the one
    sim.put(gift("B", "1000000000000.00"))  # before it was set aside
    sim.put(gift("C", "3000000000000.00"))
    assert wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=20)
    totals, _ = aggregates(store, campaign)
    assert totals["raised"] <= 2**62
    assert {decode_image(r["keys"])["id"] for r in store.recent_rejects(campaign.pk)} <= {"A", "B", "C"}
    assert store.recent_rejects(campaign.pk)


def test_a_failover_just_before_a_scan_is_marked_done_does_not_swap_in_missing_pages(
    store, redis_client, monkeypatch, settings
):
    settings.INGEST_SCAN_PAGE = 10
    settings.INGEST_SCAN_SEGMENTS = 1
    sim = simulator(monkeypatch, shards=1, seed=83, stream_enabled=False)
    Donations(sim, seed=83, keys=60).write(80)  # an existing table: its past is in no stream
    sim.enable_stream()
    campaign = campaign_on(sim)
    consumer = Consumer(store=store, consumer_id="c1")
    replica, original = {}, store.apply_batch

    def apply_batch(campaign_id, **kwargs):
        stats = kwargs.get("stats") or {}
        if any(name.startswith("scan:") and '"done":true' in str(v) for name, v in stats.items()):
            replica["snapshot"] = redis_snapshot(redis_client)  # the replica has all but the last page
        if any(name.startswith("scan_done:") for name in stats) and "snapshot" in replica:
            if not replica.get("used"):
                replica["used"] = True
                redis_restore(redis_client, replica["snapshot"])  # promoted before the scan is done
        return original(campaign_id, **kwargs)

    monkeypatch.setattr(store, "apply_batch", apply_batch)
    assert wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=20)
    assert replica.get("used")
    assert_matches_recount(store, campaign, sim)


def test_a_failover_just_before_a_swap_does_not_make_an_unfinished_scan_live(
    store, redis_client, monkeypatch, settings
):
    settings.INGEST_SCAN_PAGE = 10
    settings.INGEST_SCAN_SEGMENTS = 1
    sim = simulator(monkeypatch, shards=1, seed=84, stream_enabled=False)
    Donations(sim, seed=84, keys=60).write(80)
    sim.enable_stream()
    campaign = campaign_on(sim)
    consumer = Consumer(store=store, consumer_id="c1")
    replica, original_apply, original_swap = {}, store.apply_batch, store.swap_generation

    def apply_batch(campaign_id, **kwargs):
        stats = kwargs.get("stats") or {}
        if any(name.startswith("scan:") and '"done":true' in str(v) for name, v in stats.items()):
            replica["snapshot"] = redis_snapshot(redis_client)  # lacks the last page and scan_done
        return original_apply(campaign_id, **kwargs)

    def swap_generation(campaign_id, gen):
        if "snapshot" in replica and not replica.get("used"):
            replica["used"] = True
            redis_restore(redis_client, replica["snapshot"])  # failover between the look and the swap
        return original_swap(campaign_id, gen)

    monkeypatch.setattr(store, "apply_batch", apply_batch)
    monkeypatch.setattr(store, "swap_generation", swap_generation)
    assert wait_until(lambda: caught_up(store, campaign, sim), consumer, timeout=20)
    assert replica.get("used")
    assert_matches_recount(store, campaign, sim)


def test_a_damaged_item_state_is_rebuilt_like_a_damaged_total(store, redis_client, monkeypatch):
    sim, campaign, donations, consumer = running_campaign(
        monkeypatch, store, seed=85, shards=1, writes=20, keys=10
    )
    gen = store.meta(campaign.pk)["gen"]
    items = f"{store.base(campaign.pk)}:g{gen}:items"
    for field in redis_client.hkeys(items):
        redis_client.hset(items, field, "garbage")
    donations.write(10)
    assert wait_until(lambda: rebuilt(store, campaign, sim), consumer, timeout=20)
    assert "damaged" in store.meta(campaign.pk)["last_rebuild_reason"]
    assert_matches_recount(store, campaign, sim)


def test_a_batch_refused_again_and_again_is_retried_less_and_less_often(store, redis_client, monkeypatch):
    sim, campaign, _, consumer = running_campaign(monkeypatch, store, seed=86, shards=1, writes=10, keys=10)
    rejects = f"{store.base(campaign.pk)}:rejects"
    redis_client.delete(rejects)
    redis_client.set(rejects, "a string where a list belongs")
    sim.put(gift("broken", "ten"))
    calls = []
    sim.hooks["GetRecords"] = lambda params: calls.append(time.monotonic())
    end = time.monotonic() + 5
    while time.monotonic() < end:
        time.sleep(min(consumer.step(), 0.5))
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert len(calls) < 15 and max(gaps) > 1.0  # backing off towards 5 s, not hammering AWS
