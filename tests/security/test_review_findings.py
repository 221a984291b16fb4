"""Found by review of the security work: a staff login must not reset another account's lockout,
old screen links must not lock out live screens behind the same address, and a recalculating
campaign's public snapshot says only how far it is."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.dashboard.test_goal_page import seed
from tests.factories import make_campaign
from tests.screens.test_kiosk import GIFTS, add_screen

pytestmark = pytest.mark.django_db
VENUE = "198.51.100.20"  # the venue's one public (NAT) address


def test_old_screen_links_on_tvs_never_lock_out_the_live_screens_at_the_same_address(client, store, settings):
    campaign = make_campaign()
    seed(store, campaign, GIFTS)
    live, live_token = add_screen(campaign, name="Ballroom")
    old = [add_screen(campaign, name=f"old-{n}")[1] for n in range(4)]
    # The organizers replace four screens by deleting them and adding new ones (the documented way
    # to set a display up is "Add screen"); the four TVs still show the old links.
    from fundraiser.models import Screen

    Screen.objects.exclude(pk=live.pk).delete()
    # Each old TV: its running page's config/heartbeat -> 404 -> reload (404 page) -> message.js
    # polls <link>/snapshot.json once a minute. Five minutes of that from four TVs:
    for _minute in range(5):
        for token in old:
            assert client.get(f"/s/{token}/snapshot.json", REMOTE_ADDR=VENUE).status_code in (404, 429)
    answers = {
        "page": client.get(f"/s/{live_token}/", REMOTE_ADDR=VENUE).status_code,
        "snapshot": client.get(f"/s/{live_token}/snapshot.json", REMOTE_ADDR=VENUE).status_code,
        "heartbeat": client.post(
            f"/s/{live_token}/heartbeat", data="{}", content_type="application/json", REMOTE_ADDR=VENUE
        ).status_code,
    }
    assert answers == {"page": 200, "snapshot": 200, "heartbeat": 204}


def log_in(client, username, password, address):
    client.get("/admin/login/", REMOTE_ADDR=address)
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def test_a_staff_login_does_not_reset_the_lockout_of_another_account(client, settings):
    user = get_user_model()
    user.objects.create_superuser("organizer", "o@example.org", "correct-horse-battery-staple-7")
    user.objects.create_user("volunteer", "v@example.org", "volunteer-own-pass-42", is_staff=True)
    attacker = "203.0.113.66"
    guesses = 0
    for _ in range(10):  # a few wrong guesses, then the attacker's own login, again and again
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            if log_in(client, "organizer", f"guess-{guesses}", attacker).status_code == 429:
                break
            guesses += 1
        log_in(client, "volunteer", "volunteer-own-pass-42", attacker)
        client.post("/admin/logout/", REMOTE_ADDR=attacker)
    assert guesses <= settings.AXES_FAILURE_LIMIT
    assert log_in(client, "organizer", "correct-horse-battery-staple-7", attacker).status_code == 429


def test_a_recalculating_campaign_shows_the_public_only_a_percentage(client, store):
    from tests.dashboard.test_goal_page import building

    campaign = make_campaign(slug="quiet")
    building(store, campaign, estimate=48213, scanned=[300, 152])
    body = client.get("/c/quiet/snapshot.json").json()
    assert set(body["progress"]) == {"percent"}
