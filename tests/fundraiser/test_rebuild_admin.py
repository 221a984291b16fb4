"""Organizers start a rebuild from the admin and follow its progress there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from ingest.rebuild import build_progress
from tests.factories import make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def organizer(client):
    user = User.objects.create_superuser("organizer", "o@example.org", "a-long-password-1")
    client.force_login(user)
    return client


def test_an_organizer_starts_a_rebuild_and_sees_its_progress(organizer, store):
    campaign = make_campaign()
    response = organizer.post(
        "/admin/fundraiser/campaign/",
        {"action": "rebuild_aggregates", "_selected_action": [campaign.pk]},
        follow=True,
    )
    assert response.status_code == 200
    progress = build_progress(store, campaign.pk)
    assert progress is not None and progress.gen.startswith("1-") and not progress.done
    assert "Spring Gala: recounting every donation in the table" in response.content.decode()
    assert "requested by organizer in the admin" in store.meta(campaign.pk)["rebuild_reason"]

    page = organizer.get(f"/admin/fundraiser/campaign/{campaign.pk}/change/").content.decode()
    assert "Recount of the table" in page
    assert "starting: reading the table&#x27;s donations" in page
    assert "generation" not in page.split('id="campaign_form"')[1].split("Technical details")[0]
    assert "requested by organizer in the admin" in page


def test_the_rebuild_action_needs_a_login(client, store):
    campaign = make_campaign()
    response = client.post(
        "/admin/fundraiser/campaign/", {"action": "rebuild_aggregates", "_selected_action": [campaign.pk]}
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert build_progress(store, campaign.pk) is None
