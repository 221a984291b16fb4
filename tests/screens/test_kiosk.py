"""Screens without a browser: token access, heartbeats, the admin list, what pages contain."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from dashboard.heartbeats import ONLINE_SECONDS, clean_report, heartbeats, record_heartbeat, screen_state
from dashboard.kiosk import screen_view
from dashboard.screens import clock_text, contrast_text, countdown, leader_rows, progress_scale
from fundraiser.models import Milestone, Screen
from tests.dashboard.test_goal_page import building, seed
from tests.factories import make_campaign

GIFTS = [
    {
        "id": "1",
        "email": "ada@example.org",
        "phone": "+1 555 0100",
        "name": "Ada",
        "platform": "Web",
        "amount": 300,
    },
    {
        "id": "2",
        "email": "grace@example.org",
        "phone": "+1 555 0199",
        "name": "Grace",
        "platform": "Phone",
        "amount": Decimal("25.50"),
    },
]


def add_screen(campaign, layout: str = Screen.THERMOMETER, name: str = "Ballroom") -> tuple[Screen, str]:
    screen = Screen(campaign=campaign, name=name, layout=layout)
    token = screen.issue_token()
    screen.save()
    return screen, token


@pytest.fixture
def campaign(db, store):
    campaign = make_campaign()
    campaign.donation_url = "https://give.example.org/gala"
    campaign.save()
    Milestone.objects.create(campaign=campaign, amount=Decimal("250"), label="A quarter there")
    seed(store, campaign, GIFTS)
    return campaign


# --- access ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", [layout for layout, _ in Screen.LAYOUTS])
def test_each_layout_renders_real_numbers_on_first_paint_without_login(client, campaign, layout):
    _, token = add_screen(campaign, layout)
    page = client.get(f"/s/{token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'id="raised"[^>]*data-value="325.50"[^>]*>\$325.50<', html)
    assert "ada@example.org" not in html and "+1 555 0100" not in html
    snapshot = client.get(f"/s/{token}/snapshot.json").json()
    assert snapshot["metrics"]["raised"]["total"] == "325.50" and snapshot["milestones"] == [
        {"amount": "250.00", "label": "A quarter there"}
    ]
    assert "ada@example.org" not in json.dumps(snapshot)
    assert '<svg class="qr-code"' in html  # the QR code is drawn by the server


@pytest.mark.parametrize("layout", [layout for layout, _ in Screen.LAYOUTS])
def test_a_screen_painted_while_recalculating_says_how_far_and_shows_no_number(client, db, store, layout):
    campaign = make_campaign()  # Redis lost its state: nothing live, a rebuild under way
    building(store, campaign, estimate=1000, scanned=[300, 152])
    _, token = add_screen(campaign, layout)
    page = client.get(f"/s/{token}/")  # (a TV switched on meanwhile: this was a 500)
    assert page.status_code == 200
    html = page.content.decode()
    assert "is-recalculating" in html and 'id="raised"' not in html
    assert re.search(r'id="recalc-percent">45%<', html)
    snapshot = client.get(f"/s/{token}/snapshot.json").json()
    assert snapshot["progress"] == {"percent": 45.2}


def test_only_a_digest_of_the_token_is_stored(campaign):
    screen, token = add_screen(campaign)
    assert token not in json.dumps(list(Screen.objects.values()), default=str)
    tampered = token[:-1] + ("y" if token[-1] == "x" else "x")
    assert screen.token_matches(token) and not screen.token_matches(tampered)
    assert len(token) >= 32


@pytest.mark.parametrize("token", ["no-such-screen-token-here", "short", "bad token!"])
def test_an_unknown_link_gets_a_clear_404_message_never_a_login_page(client, campaign, token):
    page = client.get(f"/s/{token}/")
    assert page.status_code == 404
    assert b"This screen link is not valid" in page.content and b"password" not in page.content


def test_a_revoked_or_replaced_link_gets_a_clear_403_message_on_every_endpoint(client, campaign):
    revoked, revoked_token = add_screen(campaign, name="Revoked")
    revoked.revoked_at = revoked.created_at
    revoked.save()
    rotated, old_token = add_screen(campaign, name="Rotated")
    new_token = rotated.issue_token()
    rotated.save()
    for token, text, state in [
        (revoked_token, b"This screen was switched off", "revoked"),
        (old_token, b"link was replaced", "replaced"),
    ]:
        page = client.get(f"/s/{token}/")
        assert page.status_code == 403 and text in page.content
        assert client.get(f"/s/{token}/snapshot.json").json() == {
            "screen": state,
            "error": page.context["title"],
        }
        assert client.get(f"/s/{token}/events/").status_code == 403
        assert client.post(f"/s/{token}/heartbeat", "{}", content_type="application/json").status_code == 403
    assert client.get(f"/s/{new_token}/").status_code == 200


# --- heartbeats -----------------------------------------------------------------------------
def test_a_heartbeat_is_kept_in_redis_with_only_the_known_fields(client, campaign, store):
    screen, token = add_screen(campaign)
    report = {
        "layout": "thermometer",
        "version": 7,
        "epoch": "abc",
        "connection": "live",
        "status": "live",
        "stale": 0,
        "lag": 0.42,
        "viewport": "1920x1080",
        "asset": "screen.js/2",
        "email": "x@example.org",
        "html": "<b>",
    }
    answer = client.post(f"/s/{token}/heartbeat", json.dumps(report), content_type="application/json")
    assert answer.status_code == 204
    beat = heartbeats([(campaign.pk, screen.pk)], store)[screen.pk]
    assert (
        beat["lag"] == 0.42 and beat["viewport"] == "1920x1080" and "email" not in beat and "html" not in beat
    )
    assert store.redis.ttl(f"{store.base(campaign.pk)}:screen:{screen.pk}") > 3600
    assert client.get(f"/s/{token}/heartbeat").status_code == 405
    assert (
        client.post(f"/s/{token}/heartbeat", "x" * 5000, content_type="application/json").status_code == 413
    )
    assert client.post(f"/s/{token}/heartbeat", "{nope", content_type="application/json").status_code == 400


def test_reports_are_bounded():
    cleaned = clean_report(
        {"version": 1e300, "lag": float("nan"), "stale": -5, "connection": "hacked", "layout": "x" * 500}
    )
    assert cleaned["version"] == 2**53 and cleaned["lag"] is None and cleaned["stale"] == 0
    assert cleaned["connection"] == "" and len(cleaned["layout"]) == 20
    assert clean_report("not a dict")["layout"] == ""


def test_the_screen_state_says_online_live_with_lag_reconnecting_or_offline():
    now = time.time()
    assert screen_state(None).summary == "never seen"
    live = {"at": now - 3, "connection": "live", "status": "live", "lag": 0.25, "stale": 0}
    assert screen_state(live, now).summary == "live · lag 0.2 s" and screen_state(live, now).online
    away = {**live, "connection": "reconnecting", "stale": 40}
    assert screen_state(away, now).summary == "reconnecting · last update 43 s ago"
    assert screen_state({**live, "status": "recalculating"}, now).summary == "recalculating totals"
    gone = screen_state({**live, "at": now - 300}, now)
    assert 300 > ONLINE_SECONDS
    assert not gone.online and gone.summary.startswith("offline · last seen 5 min")


# --- admin ----------------------------------------------------------------------------------
@pytest.fixture
def organizer(client, db):
    user = get_user_model().objects.create_superuser("organizer", "o@example.org", "pw-organizer-1")
    client.force_login(user)
    return client


def test_the_admin_lists_screens_online_with_layout_and_lag(organizer, campaign, store):
    online, _ = add_screen(campaign, Screen.SPLIT, "Stage left")
    add_screen(campaign, Screen.LEADERBOARD, "Bar")
    record_heartbeat(
        campaign_id=campaign.pk,
        screen_id=online.pk,
        store=store,
        report={
            "layout": "split",
            "connection": "live",
            "status": "live",
            "lag": 0.8,
            "viewport": "3840x2160",
        },
    )
    html = organizer.get("/admin/fundraiser/screen/").content.decode()
    stage = html[html.index(">Stage left<") : html.index("</tr>", html.index(">Stage left<"))]
    assert "● online" in stage and "live · lag 0.8 s" in stage and "3840x2160" in stage and "Split" in stage
    bar = html[html.index(">Bar<") : html.index("</tr>", html.index(">Bar<"))]
    assert "○ offline" in bar and "never seen" in bar


def test_adding_a_screen_shows_its_link_once(organizer, campaign):
    answer = organizer.post(
        "/admin/fundraiser/screen/add/",
        {
            "campaign": campaign.pk,
            "name": "Lobby",
            "layout": "breakdown",
            "show_ticker": "on",
            "show_qr": "on",
        },
        follow=True,
    )
    text = answer.content.decode()
    link = re.search(r"http://testserver(/s/[A-Za-z0-9_-]+/)", text).group(1)
    assert organizer.get(link).status_code == 200
    change = organizer.get(f"/admin/fundraiser/screen/{Screen.objects.get(name='Lobby').pk}/change/")
    assert link not in change.content.decode()  # never shown again


def test_the_preview_is_for_signed_in_organizers(client, organizer, campaign):
    screen, _ = add_screen(campaign)
    page = organizer.get(f"/admin/fundraiser/screen/{screen.pk}/preview/")
    assert (
        page.status_code == 200 and b"Preview" in page.content and b"data-heartbeat-url" not in page.content
    )
    assert organizer.get(f"/admin/fundraiser/screen/{screen.pk}/preview/snapshot.json").json()["metrics"]
    client.logout()
    assert client.get(f"/admin/fundraiser/screen/{screen.pk}/preview/").status_code == 302


# --- configuration --------------------------------------------------------------------------
def test_colours_must_be_hex_and_names_never_come_from_contact_details(campaign):
    campaign.accent_color = "red; background: url(x)"
    with pytest.raises(ValidationError, match="accent_color"):
        campaign.full_clean()
    campaign.accent_color = "#ff0000"
    for path in ("email", "donor.emailAddress", "phone_number", "contact.mobile"):
        campaign.donor_name_path = path
        with pytest.raises(ValidationError, match="contact details"):
            campaign.full_clean()
    campaign.donor_name_path = "donor.display_name"
    campaign.full_clean()


def test_open_screens_reload_when_what_they_show_changes(campaign):
    screen, _ = add_screen(campaign)
    before = screen_view(screen).fingerprint
    assert screen_view(screen).fingerprint == before
    screen.layout = Screen.SPLIT
    screen.save()
    after_layout = screen_view(screen).fingerprint
    Milestone.objects.create(campaign=campaign, amount=Decimal("2000"), label="Stretch")
    assert len({before, after_layout, screen_view(screen).fingerprint}) == 3


def test_the_scale_runs_to_the_goal_then_to_the_next_stretch_goal():
    goal = {"target": "1000.00", "label": "Goal"}
    milestones = [{"amount": "250.00", "label": "Quarter"}, {"amount": "1500.00", "label": "Stretch"}]
    below = progress_scale("300.00", goal, milestones)
    assert below["top"] == {"amount": "1000.00", "label": "Goal"} and below["fill"] == "30.00"
    assert [(t["label"], t["position"], t["reached"]) for t in below["ticks"]] == [("Quarter", "25.00", True)]
    assert below["next"] == {"amount": "1000.00", "label": "Goal", "remaining": "700.00"}
    past = progress_scale("1200.00", goal, milestones)
    assert past["top"]["label"] == "Stretch" and past["fill"] == "80.00"
    assert [t["label"] for t in past["ticks"]] == ["Quarter", "Goal"]
    done = progress_scale("2000.00", goal, milestones)
    assert done["fill"] == "100.00" and done["next"] is None
    assert progress_scale("5.00", None, [])["top"] is None


def test_leaders_share_a_rank_when_tied():
    rows = leader_rows(
        [{"name": "A", "value": "5.00"}, {"name": "B", "value": "5.00"}, {"name": "C", "value": "1.00"}]
    )
    assert [r["rank"] for r in rows] == [1, 1, 3]


def test_text_colour_follows_the_background_and_the_countdown_reads_well():
    assert contrast_text("#060a16") == "#f6f8ff" and contrast_text("#ffffff") == "#0b1020"
    assert (
        clock_text(59) == "0:59"
        and clock_text(3600 + 62) == "1:01:02"
        and clock_text(90061) == "1 d 01:01:01"
    )
    assert countdown(100, None, 160) == {"label": "Ends in", "time": "1:00"}
    assert countdown(100, 130, 160) == {"label": "Opens in", "time": "0:30"}
    assert countdown(200, None, 160) == {"label": "Giving has closed", "time": ""}
    assert countdown(100, None, None) is None


def test_a_leaderboard_is_named_after_what_it_ranks_unless_organizers_name_it(campaign):
    from dashboard.kiosk import leaderboard_title
    from fundraiser.selectors import campaign_config

    assert leaderboard_title(campaign_config(campaign), "raised") == "Top platforms"
    campaign.metrics.filter(slug="raised").update(group_by_path="team.name")
    assert leaderboard_title(campaign_config(campaign), "raised") == "Top teams"
