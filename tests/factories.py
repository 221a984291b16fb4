"""Builders for campaigns and DynamoDB tables shared by the tests."""

from __future__ import annotations

import time
from decimal import Decimal

import boto3

from devtools.campaign import DemoCampaign
from fundraiser.models import Campaign


def make_table(endpoint_url: str, name: str = "Donations", view_type: str | None = "NEW_AND_OLD_IMAGES"):
    """The donations table; view_type None makes one without a stream."""
    dynamodb = boto3.resource("dynamodb", region_name="us-east-1", endpoint_url=endpoint_url)
    stream = (
        {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": view_type}} if view_type else {}
    )
    table = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **stream,
    )
    table.wait_until_exists()
    return table


def make_campaign(
    *,
    endpoint_url: str = "",
    table_name: str = "Donations",
    slug: str = "gala",
    goal: Decimal = Decimal("1000.00"),
) -> Campaign:
    """The demo campaign (devtools/campaign.py: raised by platform, gifts, donors) as "Spring Gala"."""
    demo = DemoCampaign(
        slug=slug, name="Spring Gala", goal=goal, table_name=table_name, endpoint_url=endpoint_url
    )
    return demo.ensure()


def scan_all(table) -> list[dict]:
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def aggregates_settled(store, campaign_id: int) -> bool:
    """A generation is live and none is being built (the first backfill or a rebuild is done)."""
    meta = store.meta(campaign_id)
    return meta.get("gen", "0") != "0" and not meta.get("building")


def make_live(store, campaign_id: int, specs) -> str:
    """Give a campaign a live generation of these metric definitions, as its first backfill would
    (for tests that write aggregates directly rather than through a consumer)."""
    from ingest.rebuild import specs_json

    store.ensure_meta(campaign_id)
    gen = store.start_generation(
        campaign_id, specs=specs_json(tuple(specs)), plan='{"segments": 1}', reason="test set-up"
    )
    store.set_meta(campaign_id, **{f"scan_done:{gen}": 1})  # as if its scan had run
    assert store.swap_generation(campaign_id, gen) is not None
    return gen


def step_until(consumer, done, timeout: float = 30) -> None:
    """Step a consumer (in this thread) until done() holds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline
        time.sleep(min(consumer.step(), 0.02))
