"""Health words (admin) and the public status when things go wrong after saving, and when fixed."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User

from fundraiser.models import Campaign, Metric
from fundraiser.selectors import campaign_config
from ingest.consumer import Consumer
from ingest.health import campaign_state
from tests.factories import make_campaign, make_table

pytestmark = pytest.mark.django_db


@pytest.fixture
def organizer(client):
    client.force_login(User.objects.create_superuser("organizer", "o@example.org", "a-long-password-1"))
    return client


def step_for(consumer: Consumer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(consumer.step(), 0.05))


def step_until(consumer: Consumer, done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the consumer did not get there in time"
        time.sleep(min(consumer.step(), 0.05))


def fresh_configs(campaign_id: int):
    return lambda: [campaign_config(Campaign.objects.get(pk=campaign_id))]


def test_a_table_deleted_while_a_recount_is_due_reads_broken_and_paused(organizer, moto, store):
    """A recount is due (a shard was trimmed unread, the stream was switched off and on, ...) and
    then the table is deleted (or access revoked): meta.lua keeps status=needs_rebuild against
    every report, so the source problem has its own field, and it wins."""
    table = make_table(moto.url)
    campaign = make_campaign(endpoint_url=moto.url)
    consumer = Consumer(store=store, consumer_id="t", load_configs=fresh_configs(campaign.pk))
    try:
        step_until(consumer, lambda: store.campaign_meta(campaign.pk).live != "0")
        store.flag_rebuild(campaign.pk, "the table's stream changed (old -> new)")
        table.delete()
        step_for(consumer, 6)  # discovery runs every second in tests
    finally:
        consumer.release_all()
    meta = store.campaign_meta(campaign.pk)
    state = campaign_state(store, campaign.pk)
    public = organizer.get("/c/gala/snapshot.json").json()["status"]
    listing = organizer.get("/admin/fundraiser/campaign/").content.decode()
    print(f"\nmeta status={meta.status!r} last_error={meta.last_error!r}")
    print(f"admin word={state.word!r} reason={state.reason!r} fix={state.fix!r}")
    print(f"snapshot status={public!r}; healthz={organizer.get('/healthz').json()}")
    assert meta.status == "needs_rebuild" and meta.source_problem == "source_error"
    assert public == "paused", "a deleted table reads LIVE on the public page and screens"
    assert state.word == "broken", "the admin says a recount starts by itself, not that the table is gone"
    assert "ResourceNotFound" in state.reason and "save it" in state.fix
    assert ">broken<" in listing


@pytest.mark.parametrize("count", [1, 4])
def test_a_new_campaign_whose_every_donation_is_rejected_needs_attention(organizer, moto, store, count):
    """The first few donations all rejected (value attribute misspelled): nothing counted at all is
    "needs attention" at once, however few were read; public "paused"."""
    table = make_table(moto.url)
    campaign = make_campaign(endpoint_url=moto.url)
    consumer = Consumer(store=store, consumer_id="t", load_configs=fresh_configs(campaign.pk))
    try:
        step_until(consumer, lambda: store.campaign_meta(campaign.pk).live != "0")
        for i in range(count):
            table.put_item(Item={"id": f"g{i}", "email": f"d{i}@x.test", "platform": "Web", "Amount": 10})
        step_until(consumer, lambda: store.campaign_meta(campaign.pk).rejected >= count)
    finally:
        consumer.release_all()
    meta = store.campaign_meta(campaign.pk)
    state = campaign_state(store, campaign.pk)
    public = organizer.get("/c/gala/snapshot.json").json()["status"]
    print(
        f"\n{meta.rejected} of {meta.records} rejected: admin word={state.word!r}, snapshot status={public!r}"
    )
    assert state.word == "needs attention", f"{count} of {count} donations rejected, yet the admin says live"
    assert state.reason == f"{count} of the last {count} donations could not be counted"
    assert public == "paused"


def test_once_the_path_is_fixed_the_recount_reads_live_at_once(organizer, moto, store):
    """The organizer fixes the metric's attribute (Amount): the recount counts every donation. The
    hour's samples and the counters still hold the rejections, but only what came after the new
    generation went live counts: live in the admin and on the public page at once."""
    table = make_table(moto.url)
    campaign = make_campaign(endpoint_url=moto.url)
    consumer = Consumer(store=store, consumer_id="t", load_configs=fresh_configs(campaign.pk))
    try:
        step_until(consumer, lambda: store.campaign_meta(campaign.pk).live != "0")
        for i in range(10):  # the table says "Amount"; the metric reads "amount": all rejected
            table.put_item(Item={"id": f"g{i}", "email": f"d{i}@x.test", "platform": "Web", "Amount": 10})
        step_until(consumer, lambda: store.campaign_meta(campaign.pk).rejected >= 10)
        assert campaign_state(store, campaign.pk).word == "needs attention"
        # The fix, as the organizer does it in the admin: the metric's value attribute is Amount.
        Metric.objects.filter(campaign=campaign, value_path="amount").update(value_path="Amount")
        gen_before = store.campaign_meta(campaign.pk).live
        step_until(
            consumer,
            lambda: (m := store.campaign_meta(campaign.pk)).live not in ("0", gen_before) and not m.building,
            timeout=40,
        )
        raised = store.snapshot(campaign.pk, campaign_config(Campaign.objects.get(pk=campaign.pk)).displays)
        assert raised.metrics["raised"].total == 10000
    finally:
        consumer.release_all()
    state = campaign_state(store, campaign.pk)
    public = organizer.get("/c/gala/snapshot.json").json()["status"]
    print(f"after the fix: admin word={state.word!r} reason={state.reason!r}; snapshot status={public!r}")
    assert public == "live", "the totals are right again, but donors still see 'Totals paused'"
    assert state.word == "live"
