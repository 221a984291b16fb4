"""Review of issue 10: one goal on the campaign form, when the goal's metric is replaced."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from fundraiser.models import Campaign
from tests.factories import make_table
from tests.fundraiser.organizer import RAISED, campaign_form

pytestmark = pytest.mark.django_db
ADD = "/admin/fundraiser/campaign/add/"


@pytest.fixture
def organizer(client):
    client.force_login(User.objects.create_superuser("organizer", "o@example.org", "a-long-password-1"))
    return client


def test_replacing_the_goal_metric_and_the_amount_in_one_save(organizer, moto):
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
    organizer.raise_request_exception = False
    response = organizer.post(f"/admin/fundraiser/campaign/{campaign.pk}/change/", form)
    campaign.refresh_from_db()
    print(f"\nHTTP {response.status_code}; headline goal now: {campaign.headline_goal}; "
          f"metrics: {list(campaign.metrics.values_list('slug', flat=True))}")
    assert response.status_code == 302, response.content.decode()[:500]
    assert campaign.headline_goal is not None and campaign.headline_goal.metric.slug == "total"
