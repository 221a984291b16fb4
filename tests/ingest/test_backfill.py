"""Backfill and rebuild (issue 4): existing tables, changed metrics, exactly, under live writes."""

from __future__ import annotations

import random
import threading
import time
from decimal import Decimal

import pytest

from fundraiser.models import Metric
from fundraiser.selectors import campaign_config
from ingest import tables
from ingest.consumer import Consumer
from ingest.metrics import recount
from ingest.records import decode_image
from tests.factories import aggregates_settled, make_campaign, make_table, scan_all
from tests.streamsim import Donations, StreamSim, stream_caught_up

pytestmark = pytest.mark.django_db

PLATFORMS = ["Facebook", "Phone", "Website", "Text"]
CHANNELS = ["online", "offline"]


def table_without_stream(endpoint_url: str, name: str = "Donations"):
    """A table filled before anyone watched it: its items are in no stream, only a Scan sees them."""
    return make_table(endpoint_url, name, view_type=None)


def enable_stream(table) -> None:
    table.meta.client.update_table(
        TableName=table.name,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def donation(rng: random.Random, key: str) -> dict:
    platform = rng.choice(PLATFORMS)
    return {
        "id": key,
        "email": f"donor{rng.randint(1, 400)}@test.com",
        "platform": platform,
        "channel": "offline" if platform == "Phone" else "online",
        "amount": Decimal(rng.randint(100, 50000)) / 100,
    }


def fill(table, count: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with table.batch_writer() as batch:
        for i in range(count):
            batch.put_item(Item=donation(rng, f"d{i:06d}"))


def numbers(store, campaign) -> tuple[dict, dict]:
    config = campaign_config(campaign)
    snap = store.snapshot(campaign.pk, config.displays)
    return ({s: v.total for s, v in snap.metrics.items()}, {s: v.groups for s, v in snap.metrics.items()})


def recounted(campaign, table) -> tuple[dict, dict]:
    truth = recount(campaign_config(campaign).specs, scan_all(table))
    return truth.totals, truth.groups


def step_until(consumer: Consumer, condition, timeout: float = 60.0, every=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        pause = consumer.step()
        if every:
            every()
        time.sleep(min(pause, 0.05))


def step_for(consumer: Consumer, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(consumer.step(), 0.05))


class ScanInterleaver:
    """After every Scan page, writes to the table: updates and deletes of items the scan already
    passed and of items it has not reached yet, and new items: the hard cases of a live backfill."""

    def __init__(self, table, monkeypatch, seed: int = 7):
        self.table, self.rng = table, random.Random(seed)
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.writes = {
            "update_passed": 0,
            "update_ahead": 0,
            "delete_passed": 0,
            "delete_ahead": 0,
            "insert": 0,
        }
        self.pages = 0
        original = tables.TableReader.scan_page
        interleaver = self

        def scan_page(reader, **kwargs):
            page = original(reader, **kwargs)
            interleaver.after_page(page)
            return page

        monkeypatch.setattr(tables.TableReader, "scan_page", scan_page)

    def after_page(self, page) -> None:
        with self.lock:
            self.pages += 1
            self.seen.update(item["id"]["S"] for item in page.items)
            keys = [f"d{i:06d}" for i in range(5000)]
            passed = [k for k in self.rng.sample(keys, 40) if k in self.seen][:2]
            ahead = [k for k in self.rng.sample(keys, 40) if k not in self.seen][:2]
            for key in passed[:1]:
                self.update(key, "update_passed")
            for key in ahead[:1]:
                self.update(key, "update_ahead")
            for key in passed[1:2]:
                self.table.delete_item(Key={"id": key})
                self.writes["delete_passed"] += 1
            for key in ahead[1:2]:
                self.table.delete_item(Key={"id": key})
                self.writes["delete_ahead"] += 1
            self.table.put_item(Item=donation(self.rng, f"new{self.pages:05d}"))
            self.writes["insert"] += 1

    def update(self, key: str, kind: str) -> None:
        platform = self.rng.choice(PLATFORMS)
        self.table.update_item(
            Key={"id": key},
            UpdateExpression="SET amount = :a, platform = :p, channel = :c",
            ExpressionAttributeValues={
                ":a": Decimal(self.rng.randint(100, 90000)) / 100,
                ":p": platform,
                ":c": "online",
            },
        )
        self.writes[kind] += 1


def test_a_backfill_of_an_existing_table_under_live_writes_equals_a_recount(
    moto, store, settings, monkeypatch
):
    settings.INGEST_SCAN_PAGE = 100
    settings.INGEST_SCAN_SEGMENTS = 4
    table = table_without_stream(moto.url)
    fill(table, 5000)
    enable_stream(table)
    campaign = make_campaign(endpoint_url=moto.url)
    interleaver = ScanInterleaver(table, monkeypatch)
    consumer = Consumer(store=store, consumer_id="c1")

    step_until(consumer, lambda: aggregates_settled(store, campaign.pk))
    step_for(consumer, 2.0)  # the last writes reach the stream and the consumer

    assert interleaver.pages >= 50
    assert all(count > 0 for count in interleaver.writes.values()), interleaver.writes
    assert numbers(store, campaign) == recounted(campaign, table)
    assert numbers(store, campaign)[0]["gifts"] > 4900


def test_changing_a_metrics_group_by_keeps_the_old_numbers_until_the_swap(moto, store, settings):
    settings.INGEST_SCAN_PAGE = 50
    table = table_without_stream(moto.url)
    fill(table, 1500, seed=3)
    enable_stream(table)
    campaign = make_campaign(endpoint_url=moto.url)
    consumer = Consumer(store=store, consumer_id="c1")
    step_until(consumer, lambda: aggregates_settled(store, campaign.pk))
    before = numbers(store, campaign)
    assert set(before[1]["raised"]) <= set(PLATFORMS)

    rng = random.Random(5)
    shown: list[tuple[str, dict, int]] = []

    def donate_and_look() -> None:
        table.put_item(Item=donation(rng, f"live{len(shown):05d}"))
        meta = store.meta(campaign.pk)
        totals, groups = numbers(store, campaign)
        shown.append((meta.get("gen"), groups["raised"], totals["raised"]))

    Metric.objects.filter(campaign=campaign, slug="raised").update(group_by_path="channel")
    old_gen = store.meta(campaign.pk)["gen"]
    step_until(consumer, lambda: store.meta(campaign.pk).get("gen") != old_gen, every=donate_and_look)
    step_until(consumer, lambda: aggregates_settled(store, campaign.pk))
    step_for(consumer, 2.0)

    old = [(groups, total) for gen, groups, total in shown if gen == old_gen]
    new = [(groups, total) for gen, groups, total in shown if gen != old_gen]
    assert old and new, "the screens were looked at before and after the swap"
    # Until the swap: the old definition, complete (only gifts were added, so never less).
    assert all(set(groups) <= set(PLATFORMS) for groups, _ in old)
    assert all(total >= before[0]["raised"] for _, total in old)
    assert [total for _, total in old] == sorted(total for _, total in old)
    # After it: the new definition, and no total below the last old one.
    assert all(set(groups) <= set(CHANNELS) for groups, _ in new)
    assert min(total for _, total in new) >= old[-1][1]
    assert numbers(store, campaign) == recounted(campaign, table)


def test_a_throttled_scan_backs_off_and_every_segment_still_counts_exactly(store, monkeypatch, settings):
    settings.INGEST_SCAN_PAGE = 40
    settings.INGEST_SCAN_SEGMENTS = 3
    sim = StreamSim(shards=2, seed=31)
    sim.install(monkeypatch)
    Donations(sim, seed=31, keys=300).write(600)
    # botocore retries twice on its own; six in a row make our backoff retry the segment too
    sim.inject("Scan", "ProvisionedThroughputExceededException", times=6)
    campaign = make_campaign(endpoint_url=sim.endpoint_url, table_name=sim.table_name)
    consumer = Consumer(store=store, consumer_id="c1")
    step_until(
        consumer,
        lambda: aggregates_settled(store, campaign.pk) and stream_caught_up(store, campaign.pk, sim),
        timeout=60,
    )

    assert sim.calls["Scan"] >= 6 + 3  # the throttled calls, then every segment's pages
    truth = recount(campaign_config(campaign).specs, [decode_image(i) for i in sim.images()])
    assert numbers(store, campaign) == (truth.totals, truth.groups)
