from __future__ import annotations

import time
from decimal import Decimal

import pytest

from fundraiser.selectors import active_campaign_configs, campaign_config
from ingest.consumer import Consumer
from ingest.metrics import recount
from tests.factories import make_campaign, make_table, scan_all

pytestmark = pytest.mark.django_db


def drain(consumer: Consumer, rounds: int = 20) -> None:
    for _ in range(rounds):
        time.sleep(consumer.step())


def test_it_counts_inserts_updates_and_deletes_like_a_recount(moto, store):
    table = make_table(moto.url)
    campaign = make_campaign(endpoint_url=moto.url)
    table.put_item(Item={"id": "1", "email": "a@test.com", "platform": "Facebook", "amount": 10})
    table.put_item(Item={"id": "2", "email": "b@test.com", "platform": "Phone", "amount": Decimal("25.50")})
    table.put_item(Item={"id": "3", "email": "a@test.com", "platform": "Website", "amount": 5})
    consumer = Consumer(store=store, consumer_id="c1")
    drain(consumer)
    table.update_item(
        Key={"id": "2"},
        UpdateExpression="SET amount = :a, platform = :p",
        ExpressionAttributeValues={":a": 30, ":p": "Website"},
    )
    table.delete_item(Key={"id": "3"})
    drain(consumer)
    config = campaign_config(campaign)
    expected = recount(
        config.specs,
        [
            {k: (Decimal(v) if isinstance(v, Decimal) else v) for k, v in item.items()}
            for item in scan_all(table)
        ],
    )
    snap = store.snapshot(campaign.pk, config.displays)
    assert (
        {s: v.total for s, v in snap.metrics.items()}
        == expected.totals
        == {"raised": 4000, "gifts": 2, "donors": 2}
    )
    assert {s: v.groups for s, v in snap.metrics.items()} == expected.groups
    assert active_campaign_configs()
