"""Adjustments (issue 11): synthetic items counted exactly once, through Redis loss, rebuilds and
changed metrics, alongside a live stream."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal

import pytest

from fundraiser.models import Metric
from fundraiser.selectors import campaign_config
from ingest import ports
from ingest.adjustments import Adjustment, adjustment_contribution, apply_adjustments
from ingest.consumer import Consumer
from ingest.metrics import recount
from ingest.records import item_key_digest
from tests.background import GiftStream
from tests.factories import aggregates_settled, make_campaign, make_live
from tests.metric_specs import DONORS, GIFTS, RAISED, money_sum
from tests.streamsim import StreamSim, stream_caught_up

pytestmark = pytest.mark.django_db

CASH = Adjustment(1, 1, Decimal("250.00"), "Cash in the room")
PADDLE = Adjustment(2, 1, Decimal("1000"), "Paddle raise", counts_as_gift=True, counts_as_donor=True)


def test_it_counts_an_adjustment_in_sums_only_unless_told():
    specs = (
        RAISED,
        GIFTS,
        DONORS,
        money_sum("web", "amount", filter_path="platform", filter_value="Web").spec,
    )
    assert adjustment_contribution(specs, CASH) == [("n", "raised", "Cash in the room", 25000)]
    entries = adjustment_contribution(specs, PADDLE)
    assert [e[:2] for e in entries] == [("n", "raised"), ("n", "gifts"), ("d", "donors")]
    assert adjustment_contribution(specs, replace(CASH, version=2, reversed=True)) == []
    # An amount a sum cannot hold exactly counts nothing there (never rounded).
    assert adjustment_contribution(specs, replace(CASH, amount=Decimal("0.005"))) == []


def test_its_keys_can_never_meet_an_item_of_the_table():
    assert len(item_key_digest({"id": "adj:1"})) == 24 and not item_key_digest({"id": "x"}).startswith("adj:")


def test_it_applies_an_adjustment_once_and_its_reversal_whatever_the_order(store):
    config = campaign_config(make_campaign())
    make_live(store, config.id, config.specs)

    def raised() -> dict:
        values = store.snapshot(config.id, ["raised", "gifts"]).metrics
        return {"raised": values["raised"].total, "gifts": values["gifts"].total}

    for _ in range(2):  # twice: the second changes nothing
        apply_adjustments(store=store, config=config, adjustments=[CASH])
    assert raised() == {"raised": 25000, "gifts": 0}
    reversal = replace(CASH, version=2, reversed=True)
    apply_adjustments(store=store, config=config, adjustments=[reversal])
    apply_adjustments(store=store, config=config, adjustments=[CASH])  # late, stale: ignored
    assert raised() == {"raised": 0, "gifts": 0}
    apply_adjustments(store=store, config=config, adjustments=[PADDLE])
    assert raised() == {"raised": 100000, "gifts": 1}


def step_until(consumer: Consumer, done, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the consumer did not get there in time"
        time.sleep(min(consumer.step(), 0.02))


def expected(config, sim: StreamSim, adjustments: list[Adjustment]) -> dict:
    counted = recount(config.specs, sim.items())
    totals = dict(counted.totals)
    for adjustment in adjustments:
        for kind, slug, _group, value in adjustment_contribution(config.specs, adjustment):
            totals[slug] += value if kind == "n" else 1
    return totals


def shown(store, config) -> dict:
    snap = store.snapshot(config.id, config.displays)
    return {slug: values.total for slug, values in snap.metrics.items()}


def test_adjustments_stay_exact_through_redis_loss_a_rebuild_and_a_changed_metric(store, monkeypatch):
    sim = StreamSim(shards=2, seed=3)
    sim.install(monkeypatch)
    gifts = GiftStream(sim.put, rate=1)
    gifts.give(40)
    campaign = make_campaign(endpoint_url=sim.endpoint_url)
    config = campaign_config(campaign)
    recorded: list[Adjustment] = [CASH, PADDLE]
    organizer = ports.OrganizerInput(adjustments=lambda _id: recorded)
    consumer = Consumer(store=store, consumer_id="c1", load_configs=lambda: [config], organizer=organizer)

    def settled() -> bool:
        return aggregates_settled(store, config.id) and stream_caught_up(store, config.id, sim)

    step_until(consumer, settled)
    assert shown(store, config) == expected(config, sim, recorded)  # included before the first swap

    store.redis.flushdb()  # Redis loses everything: the rebuild counts the adjustments again
    gifts.give(10)
    step_until(consumer, lambda: settled() and shown(store, config) == expected(config, sim, recorded))

    recorded[0] = replace(CASH, version=2, reversed=True)  # reversed while a rebuild runs
    recorded.append(Adjustment(3, 1, Decimal("-20.50"), "Correction"))
    store.flag_rebuild(config.id, "requested by the test")
    gifts.give(10)
    step_until(consumer, lambda: settled() and shown(store, config) == expected(config, sim, recorded))
    assert store.meta(config.id).get("status") != "needs_rebuild"

    Metric.objects.filter(campaign=campaign, slug="raised").update(group_by_path="")
    config = campaign_config(campaign)  # a changed definition: a new generation, adjustments in it
    gifts.give(5)

    def regrouped() -> bool:  # the new generation is live: one group only
        return settled() and set(store.snapshot(config.id, ["raised"]).metrics["raised"].groups) == {""}

    step_until(consumer, regrouped)
    assert shown(store, config) == expected(config, sim, recorded)
