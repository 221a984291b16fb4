"""/healthz reports per campaign and shard, and fails on lag, a needed rebuild or no consumer."""

from __future__ import annotations

import time

import pytest

from fundraiser.selectors import campaign_config
from ingest.consumer import Consumer
from ingest.health import campaign_health
from tests.factories import aggregates_settled, make_campaign, make_live, make_table

pytestmark = pytest.mark.django_db


def step_until(consumer, condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(min(consumer.step(), 0.05))


def detailed_health(client, settings):
    """The details behind /healthz, as operators read them with the health token."""
    settings.HEALTH_TOKEN = "operator-token"
    return client.get("/healthz?detail=1", headers={"Authorization": "Bearer operator-token"})


def test_healthz_shows_each_shard_and_fails_when_reading_lags(moto, store, client, settings):
    table = make_table(moto.url)
    campaign = make_campaign(endpoint_url=moto.url)
    for i in range(5):
        table.put_item(Item={"id": str(i), "platform": "Web", "amount": 5, "email": f"{i}@x.org"})
    consumer = Consumer(store=store, consumer_id="c1")
    step_until(
        consumer,
        lambda: (
            aggregates_settled(store, campaign.pk) and int(store.meta(campaign.pk).get("records", 0)) >= 5
        ),
    )
    time.sleep(1.1)
    consumer.step()  # an idle read refreshes the shard's health

    response = detailed_health(client, settings)
    body = response.json()
    assert response.status_code == 200, body
    gala = body["campaigns"]["gala"]
    assert gala["ok"] and gala["status"] == "live" and gala["records"] == 5
    (shard,) = gala["shards"].values()
    assert shard["last_sequence_number"].isdigit()
    assert shard["lag_seconds"] < 2
    assert gala["records_per_second"] > 0

    settings.INGEST_MAX_LAG_SECONDS = 1
    time.sleep(1.5)  # the consumer stops reading: nobody looks at the stream any more
    response = detailed_health(client, settings)
    assert response.status_code == 503
    assert any("lag" in problem for problem in response.json()["campaigns"]["gala"]["problems"])


def test_healthz_fails_when_a_campaign_needs_a_rebuild_or_no_consumer_runs(store, client, settings):
    campaign = make_campaign()
    store.ensure_meta(campaign.pk)
    store.heartbeat_consumer("c1", 30)
    store.set_meta(campaign.pk, status="needs_rebuild", rebuild_reason="records were trimmed unread")
    body = detailed_health(client, settings).json()
    assert body["ok"] is False
    assert body["campaigns"]["gala"]["problems"] == ["needs_rebuild: records were trimmed unread"]

    make_live(store, campaign.pk, campaign_config(campaign).specs)  # a rebuild clears it (only that)
    assert client.get("/healthz").status_code == 200
    store.drop_consumer("c1")
    response = detailed_health(client, settings)
    assert response.status_code == 503
    assert response.json()["problems"] == ["no stream consumer is running"]


def test_the_admin_lists_each_shard_with_its_lag(moto, store, client, django_user_model):
    table = make_table(moto.url)
    campaign = make_campaign(endpoint_url=moto.url)
    table.put_item(Item={"id": "1", "platform": "Web", "amount": 5, "email": "a@x.org"})
    consumer = Consumer(store=store, consumer_id="c1")
    step_until(
        consumer,
        lambda: (
            aggregates_settled(store, campaign.pk) and int(store.meta(campaign.pk).get("records", 0)) >= 1
        ),
    )
    client.force_login(django_user_model.objects.create_superuser("o", "o@x.org", "pw-long-enough-1"))
    page = client.get(f"/admin/fundraiser/campaign/{campaign.pk}/change/").content.decode()
    (shard_id,) = campaign_health(store, campaign.pk)["shards"]
    assert f"<code>{shard_id}</code>" in page
    assert "healthy" in page and "Records/s" in page
