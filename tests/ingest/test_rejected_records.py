"""Unusable records are set aside with a reason an organizer can read in the admin, and the records
around them in the same GetRecords batch still count."""

from __future__ import annotations

import html
import re
import time
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from ingest import streams
from ingest.consumer import Consumer
from tests.factories import aggregates_settled, make_campaign, make_table

pytestmark = pytest.mark.django_db

# In table order: good, "ten", good, no amount, good.
DONATIONS = [
    {"id": "good-1", "email": "a@test.com", "platform": "Facebook", "amount": Decimal("10")},
    {"id": "bad-ten", "email": "c@test.com", "platform": "Phone", "amount": "ten"},
    {"id": "good-2", "email": "b@test.com", "platform": "Phone", "amount": Decimal("5")},
    {"id": "bad-missing", "email": "d@test.com", "platform": "Website"},
    {"id": "good-3", "email": "e@test.com", "platform": "Website", "amount": Decimal("2.50")},
]
REASONS = {"bad-ten": "amount 'ten' is not a number", "bad-missing": "missing amount"}


class RecordingStreams:
    """The real DynamoDB Streams client, noting the item ids of every non-empty GetRecords batch."""

    def __init__(self, client, batches: list[list[str]]):
        self.client = client
        self.batches = batches

    def __getattr__(self, name):
        return getattr(self.client, name)

    def get_records(self, **kwargs):
        response = self.client.get_records(**kwargs)
        if response["Records"]:
            self.batches.append([r["dynamodb"]["Keys"]["id"]["S"] for r in response["Records"]])
        return response


@pytest.fixture
def batches(monkeypatch) -> list[list[str]]:
    """GetRecords batches as the consumer received them (through the one seam, streams.make_clients)."""
    seen: list[list[str]] = []
    real = streams.make_clients

    def recording_clients(**kwargs):
        dynamodb, stream_client = real(**kwargs)
        return dynamodb, RecordingStreams(stream_client, seen)

    monkeypatch.setattr(streams, "make_clients", recording_clients)
    return seen


def consume_until(consumer: Consumer, done, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the consumer did not get there in time"
        time.sleep(consumer.step())


@pytest.fixture
def ingested(moto, store, batches):
    """The five donations, put before the consumer's first step and read in one batch."""
    table = make_table(moto.url)
    campaign = make_campaign(endpoint_url=moto.url)
    for item in DONATIONS:
        table.put_item(Item=item)
    consumer = Consumer(store=store, consumer_id="rejects")
    consume_until(
        consumer,
        lambda: batches and store.meta(campaign.pk).get("records") and aggregates_settled(store, campaign.pk),
    )
    return campaign, table, consumer


def admin_page(client, campaign) -> str:
    user = get_user_model().objects.create_superuser("organizer", "organizer@example.com", "s3cret-pass")
    client.force_login(user)  # the login form's lockout (django-axes) is tested in tests/security
    response = client.get(reverse("admin:fundraiser_campaign_change", args=[campaign.pk]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def readonly_field(page: str, label: str) -> str:
    match = re.search(rf"<label>{label}:</label>\s*<div class=\"readonly\">(.*?)</div>", page, re.S)
    assert match, f"no read-only field {label!r} on the page"
    return match.group(1).strip()


def test_the_batch_held_the_rejected_records_between_good_ones(ingested, batches):
    assert batches[0] == [item["id"] for item in DONATIONS]


def test_records_around_a_rejected_one_in_the_same_batch_are_counted(ingested, store):
    campaign, *_ = ingested
    snap = store.snapshot(campaign.pk, ["raised", "gifts", "donors"])
    assert snap.metrics["raised"].total == 1750
    assert snap.metrics["raised"].groups == {"Facebook": 1000, "Phone": 500, "Website": 250}
    assert snap.metrics["gifts"].total == 3  # a rejected donation is not a gift either
    assert snap.metrics["donors"].total == 3
    assert store.meta(campaign.pk)["rejected"] == "2"


def test_rejected_records_show_their_reason_in_the_admin(ingested, client, store):
    campaign, *_ = ingested
    page = admin_page(client, campaign)
    assert readonly_field(page, "Rejected records") == "2"
    rejects = readonly_field(page, "Recent rejected records")
    rows = re.findall(r"<tr><td>[^<]*</td><td>(\w+)</td><td>([^<]*)</td><td><code>([^<]*)</code>", rejects)
    assert sorted(rows) == sorted(("INSERT", reason, f"id={item_id}") for item_id, reason in REASONS.items())
    # The campaign list shows the count too.
    listing = client.get(reverse("admin:fundraiser_campaign_changelist")).content.decode()
    assert re.search(r'<td class="field-rejected_records">2</td>', listing)


def test_no_donor_email_reaches_the_snapshot_json(ingested, client):
    campaign, *_ = ingested
    body = client.get(f"/c/{campaign.slug}/snapshot.json").content.decode()
    assert body.count('"total"') == 3
    assert "@" not in body
    for item in DONATIONS:
        assert item["email"] not in body


def test_a_change_to_an_unusable_amount_takes_the_old_amount_away_and_is_listed(ingested, store, client):
    campaign, table, consumer = ingested
    table.update_item(
        Key={"id": "good-1"}, UpdateExpression="SET amount = :a", ExpressionAttributeValues={":a": "ten"}
    )
    consume_until(consumer, lambda: store.meta(campaign.pk)["rejected"] == "3")
    snap = store.snapshot(campaign.pk, ["raised", "donors"])
    assert snap.metrics["raised"].total == 750  # a recount skips the unusable item too
    assert snap.metrics["raised"].groups == {"Phone": 500, "Website": 250}
    assert snap.metrics["donors"].total == 2
    page = admin_page(client, campaign)
    assert "<td>MODIFY</td><td>amount 'ten' is not a number</td><td><code>id=good-1</code>" in page


def test_records_read_counts_each_record_once(ingested, client):
    campaign, *_ = ingested
    assert readonly_field(admin_page(client, campaign), "Records read") == str(len(DONATIONS))
