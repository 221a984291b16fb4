"""Set up right the first time: a broken table is refused on save, and never reads "live" anywhere."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from fundraiser.models import Campaign
from fundraiser.selectors import campaign_config
from ingest.consumer import Consumer
from tests.factories import make_campaign, make_table

from .organizer import RAISED, campaign_form

pytestmark = pytest.mark.django_db
ADD = "/admin/fundraiser/campaign/add/"


@pytest.fixture
def organizer(client):
    client.force_login(User.objects.create_superuser("organizer", "o@example.org", "a-long-password-1"))
    return client


def errors_of(response) -> str:
    assert response.status_code == 200  # the form again, not a redirect: nothing saved
    return response.content.decode()


def test_a_missing_table_is_refused_on_save_with_its_fix(organizer, moto):
    make_table(moto.url)
    page = errors_of(organizer.post(ADD, campaign_form(table_name="Donation", endpoint_url=moto.url)))
    assert "There is no table named Donation in us-east-1." in page
    assert "aws dynamodb list-tables --region us-east-1" in page
    assert "The campaign was not saved" in page
    assert not Campaign.objects.exists()


def test_a_region_name_is_refused_with_the_code_to_use(organizer):
    page = errors_of(organizer.post(ADD, campaign_form(region="Ireland")))
    assert "“Ireland” is not an AWS region code. Did you mean eu-west-1?" in page
    assert not Campaign.objects.exists()


def test_a_keys_only_stream_is_refused_on_save(organizer, moto):
    make_table(moto.url, view_type="KEYS_ONLY")
    page = errors_of(organizer.post(ADD, campaign_form(endpoint_url=moto.url)))
    assert "(KEYS_ONLY): the dashboard cannot count from it" in page
    assert not Campaign.objects.exists()


def test_a_currency_must_be_an_iso_4217_code(organizer, moto):
    make_table(moto.url)
    page = errors_of(organizer.post(ADD, campaign_form(currency="ABC", endpoint_url=moto.url)))
    assert "“ABC” is not an ISO 4217 currency code" in page
    page = errors_of(organizer.post(ADD, campaign_form(currency="eur", endpoint_url=moto.url)))
    assert "Currency codes are written in capitals: EUR." in page


def test_a_good_table_saves_and_its_goal_is_the_headline_goal(organizer, moto):
    make_table(moto.url)
    response = organizer.post(ADD, campaign_form(endpoint_url=moto.url, goal_amount="12500"))
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get(slug="gala")
    config = campaign_config(campaign)
    assert config.goal is not None and (config.goal.metric, config.goal.target_minor) == ("raised", 1250000)
    page = organizer.get(f"/admin/fundraiser/campaign/{campaign.pk}/change/").content.decode()
    assert 'value="12500"' in page and "12500.000000" not in page and "12500.00" not in page
    # Changing the amount on the form moves the screens' goal.
    form = campaign_form(endpoint_url=moto.url, goal_amount="20000")
    form.update(
        {
            "metrics-INITIAL_FORMS": "1",
            "metrics-0-id": str(campaign.metrics.get().pk),
            "metrics-0-campaign": str(campaign.pk),
        }
    )
    assert organizer.post(f"/admin/fundraiser/campaign/{campaign.pk}/change/", form).status_code == 302
    campaign.refresh_from_db()
    assert campaign.headline_goal.target == Decimal("20000")


def step_until(consumer: Consumer, done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the consumer did not get there in time"
        time.sleep(min(consumer.step(), 0.05))


def test_a_saved_broken_source_never_reads_live_anywhere(organizer, moto, store):
    # Saved before the check existed, or its stream switched off since: the worker finds no stream.
    make_table(moto.url, view_type=None)
    campaign = make_campaign(endpoint_url=moto.url)
    consumer = Consumer(store=store, consumer_id="t", load_configs=lambda: [campaign_config(campaign)])
    try:
        step_until(consumer, lambda: store.campaign_meta(campaign.pk).status == "no_stream")
    finally:
        consumer.release_all()

    snapshot = organizer.get("/c/gala/snapshot.json").json()
    assert snapshot["status"] == "paused"
    page = organizer.get("/c/gala/").content.decode()
    assert "is-paused" in page and "Totals paused" in page
    assert "no_stream" not in page and "has no stream" not in page  # donors see no engineering text

    listing = organizer.get("/admin/fundraiser/campaign/").content.decode()
    assert "<strong class='fr-bad'>broken</strong>" in listing
    assert "no_stream" not in listing and ">live<" not in listing
    detail = organizer.get(f"/admin/fundraiser/campaign/{campaign.pk}/change/").content.decode()
    assert "broken" in detail and "its DynamoDB stream is off" in detail
    assert "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES" in detail
    assert organizer.get("/healthz").json()["ok"] is False


def test_a_campaign_rejecting_most_records_needs_attention_and_is_not_live(organizer, moto, store):
    table = make_table(moto.url)
    campaign = make_campaign(endpoint_url=moto.url)
    consumer = Consumer(store=store, consumer_id="t", load_configs=lambda: [campaign_config(campaign)])
    try:
        step_until(consumer, lambda: store.campaign_meta(campaign.pk).live != "0")
        for i in range(6):  # "Amount", not "amount": every gift is set aside
            table.put_item(Item={"id": f"g{i}", "email": f"d{i}@x.test", "platform": "Web", "Amount": 10})
        step_until(consumer, lambda: store.campaign_meta(campaign.pk).rejected >= 6)
    finally:
        consumer.release_all()

    listing = organizer.get("/admin/fundraiser/campaign/").content.decode()
    assert (
        "<strong class='fr-bad'>needs attention</strong>: 6 of the last 6 donations could not be counted"
        in listing
    )
    detail = organizer.get(f"/admin/fundraiser/campaign/{campaign.pk}/change/").content.decode()
    assert "“Preview”" in detail and "<svg" in detail  # the hour's chart, as inline SVG
    assert organizer.get("/c/gala/snapshot.json").json()["status"] == "paused"


def test_a_table_deleted_after_saving_is_broken_with_aws_code_and_paused_in_public(organizer, moto, store):
    make_campaign(endpoint_url=moto.url)  # its table was never created, or was deleted since
    campaign = Campaign.objects.get(slug="gala")
    consumer = Consumer(store=store, consumer_id="t", load_configs=lambda: [campaign_config(campaign)])
    try:
        step_until(consumer, lambda: store.campaign_meta(campaign.pk).status == "source_error")
    finally:
        consumer.release_all()
    assert organizer.get("/c/gala/snapshot.json").json()["status"] == "paused"
    detail = organizer.get(f"/admin/fundraiser/campaign/{campaign.pk}/change/").content.decode()
    assert "<strong class='fr-bad'>broken</strong>: ResourceNotFoundException" in detail
    assert "There is no table named Donations in us-east-1." in detail
    assert organizer.get("/healthz").json()["ok"] is False


def test_replacing_the_goal_metric_and_the_amount_in_one_save_moves_the_goal_to_the_new_metric(
    organizer, moto
):
    """The organizer deletes the "Raised" row, adds "Total" (same attribute, another slug) and raises
    the goal from 1000 to 2000, in one save of the campaign form."""
    make_table(moto.url)
    assert organizer.post(ADD, campaign_form(endpoint_url=moto.url)).status_code == 302
    campaign = Campaign.objects.get(slug="gala")
    old = campaign.metrics.get()
    form = campaign_form(
        endpoint_url=moto.url,
        goal_amount="2000",
        metrics=[RAISED, {**RAISED, "slug": "total", "label": "Total"}],
    )
    form.update(
        {
            "metrics-INITIAL_FORMS": "1",
            "metrics-0-id": str(old.pk),
            "metrics-0-campaign": str(campaign.pk),
            "metrics-0-DELETE": "on",
        }
    )
    response = organizer.post(f"/admin/fundraiser/campaign/{campaign.pk}/change/", form)
    campaign.refresh_from_db()
    assert response.status_code == 302, response.content.decode()[:500]
    assert campaign.headline_goal is not None and campaign.headline_goal.metric.slug == "total"
    assert campaign.headline_goal.target == 2000
    assert list(campaign.metrics.values_list("slug", flat=True)) == ["total"]
