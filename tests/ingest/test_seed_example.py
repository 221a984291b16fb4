"""The issue's seed example, as written, through the consumer (moto server, real Redis) to the JSON."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from ingest.consumer import Consumer
from tests.factories import aggregates_settled, make_campaign, make_table

pytestmark = pytest.mark.django_db

SEED = {"email": "a@test.com", "donatedAt": "2019-08-07T07:26:56", "platform": "Facebook", "amount": 10}


def consume_until(consumer: Consumer, store, campaign, records: int, timeout: float = 20) -> None:
    """Step the consumer until the campaign has read `records` records in all."""
    deadline = time.monotonic() + timeout
    while int(store.meta(campaign.pk).get("records", 0)) < records or not aggregates_settled(
        store, campaign.pk
    ):
        assert time.monotonic() < deadline, f"consumer read {store.meta(campaign.pk)} in {timeout}s"
        time.sleep(consumer.step())


def snapshot(client, campaign) -> dict:
    response = client.get(f"/c/{campaign.slug}/snapshot.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def groups(body: dict, slug: str) -> dict[str, Decimal]:
    return {g["name"]: Decimal(g["value"]) for g in body["metrics"][slug]["groups"]}


def test_the_seed_donation_shows_ten_dollars_on_facebook_and_one_donor(moto, store, client):
    table = make_table(moto.url)
    campaign = make_campaign(endpoint_url=moto.url)
    table.put_item(Item={"id": "seed", **SEED})
    consume_until(Consumer(store=store, consumer_id="seed"), store, campaign, records=1)

    body = snapshot(client, campaign)
    raised = body["metrics"]["raised"]
    assert raised["total"] == "10.00"
    assert raised["groups"] == [{"name": "Facebook", "value": "10.00"}]
    assert body["metrics"]["donors"]["total"] == "1"
    assert body["metrics"]["gifts"]["total"] == "1"
    assert body["goal"]["current"] == "10.00"
    assert body["currency"] == "USD"


def test_the_seed_donation_moves_facebook_and_the_total_by_ten_and_the_donors_by_one(moto, store, client):
    table = make_table(moto.url)
    campaign = make_campaign(endpoint_url=moto.url)
    table.put_item(
        Item={
            "id": "earlier-1",
            "email": "b@test.com",
            "platform": "Phone",
            "amount": Decimal("25.50"),
            "donatedAt": "2019-08-07T07:00:00",
        }
    )
    table.put_item(
        Item={
            "id": "earlier-2",
            "email": "c@test.com",
            "platform": "Facebook",
            "amount": Decimal("5"),
            "donatedAt": "2019-08-07T07:10:00",
        }
    )
    consumer = Consumer(store=store, consumer_id="seed")
    consume_until(consumer, store, campaign, records=2)
    before = snapshot(client, campaign)

    table.put_item(Item={"id": "seed", **SEED})
    consume_until(consumer, store, campaign, records=3)
    after = snapshot(client, campaign)

    def total(body, slug):
        return Decimal(body["metrics"][slug]["total"])

    assert total(before, "raised") == Decimal("30.50")
    assert total(after, "raised") - total(before, "raised") == Decimal("10.00")
    assert groups(after, "raised")["Facebook"] - groups(before, "raised")["Facebook"] == Decimal("10.00")
    assert groups(after, "raised")["Phone"] == groups(before, "raised")["Phone"] == Decimal("25.50")
    assert total(after, "donors") - total(before, "donors") == 1
    assert after["metrics"]["raised"]["total"] == "40.50"  # exact text, two places
    assert after["version"] > before["version"]
