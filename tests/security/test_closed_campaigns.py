"""Finding 5: a campaign switched off or past its end shows no numbers on its public page,
snapshot, stream or screens, and says so, unless the organizers keep showing the final total."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.dashboard.test_goal_page import seed
from tests.factories import make_campaign
from tests.screens.test_kiosk import GIFTS, add_screen

pytestmark = pytest.mark.django_db
TOTAL = ("325.50", "325.5")


def close(campaign, state: str) -> None:
    if state == "inactive":
        campaign.is_active = False
    else:
        campaign.starts_at = timezone.now() - dt.timedelta(days=2)
        campaign.ends_at = timezone.now() - dt.timedelta(minutes=1)
    campaign.save()


@pytest.fixture
def campaign(store):
    campaign = make_campaign()
    seed(store, campaign, GIFTS)
    return campaign


def public_answers(client, campaign, token: str) -> dict:
    return {
        "page": client.get(f"/c/{campaign.slug}/"),
        "snapshot": client.get(f"/c/{campaign.slug}/snapshot.json"),
        "stream": client.get(f"/c/{campaign.slug}/events/"),
        "screen": client.get(f"/s/{token}/"),
        "screen snapshot": client.get(f"/s/{token}/snapshot.json"),
        "screen stream": client.get(f"/s/{token}/events/"),
    }


@pytest.mark.parametrize(
    "state, says", [("inactive", "This campaign is not live"), ("ended", "Giving has closed")]
)
def test_a_closed_campaign_says_so_and_shows_no_numbers(client, campaign, state, says):
    _, token = add_screen(campaign)
    assert client.get(f"/c/{campaign.slug}/").status_code == 200  # live until now
    close(campaign, state)
    for what, response in public_answers(client, campaign, token).items():
        assert response.status_code == 410, what
        body = response.content.decode()
        assert not [total for total in TOTAL if total in body], f"{what} shows the total"
        if what.endswith("snapshot") or what.endswith("stream"):
            assert response.json()["closed"] == state, what
        else:
            assert says in body, what


@pytest.mark.parametrize("state", ["inactive", "ended"])
def test_the_organizers_may_keep_showing_the_final_total(client, campaign, state):
    _, token = add_screen(campaign)
    close(campaign, state)
    campaign.keep_final_total = True
    campaign.save()
    page = client.get(f"/c/{campaign.slug}/")
    assert page.status_code == 200 and "$325.50" in page.content.decode()
    assert "final total" in page.content.decode()
    snapshot = client.get(f"/c/{campaign.slug}/snapshot.json").json()
    assert snapshot["closed"] == state and snapshot["metrics"]["raised"]["total"] == "325.50"
    assert client.get(f"/s/{token}/").status_code == 200
    assert client.get(f"/s/{token}/snapshot.json").json()["metrics"]["raised"]["total"] == "325.50"


def test_a_campaign_that_ends_later_is_live_until_then(client, campaign):
    campaign.ends_at = timezone.now() + dt.timedelta(hours=1)
    campaign.save()
    snapshot = client.get(f"/c/{campaign.slug}/snapshot.json").json()
    assert "closed" not in snapshot and snapshot["metrics"]["raised"]["total"] == "325.50"
