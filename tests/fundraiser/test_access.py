"""Acceptance 2 (issue 11): organizer A cannot see or change campaign B by list, change page, direct
URL, JSON endpoint or screen admin; a volunteer can only record adjustments and paddles."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from fundraiser.models import Adjustment, GiftModeration, Membership, PaddleLevel, Screen, Verification
from tests.factories import make_campaign
from tests.forms import form_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaigns(store):
    a = make_campaign(slug="gala-a", table_name="TableA")
    b = make_campaign(slug="gala-b", table_name="TableB")
    b.name = "Secret Ball"
    b.save()
    screens = {}
    for campaign in (a, b):
        screen = Screen(campaign=campaign, name=f"screen of {campaign.slug}", layout="thermometer")
        screen.issue_token()
        screen.save()
        screens[campaign.slug] = screen
        PaddleLevel.objects.create(campaign=campaign, amount=Decimal("1000"))
    adjustment_b = Adjustment.objects.create(campaign=b, amount=Decimal("5"), group="Cash of B")
    run_b = Verification.objects.create(campaign=b)
    moderation_b = GiftModeration.objects.create(campaign=b, item_key="k", action="remove", name_seen="Bob")
    return {
        "a": a,
        "b": b,
        "screens": screens,
        "adjustment_b": adjustment_b,
        "run_b": run_b,
        "mod_b": moderation_b,
    }


def member(client, campaign, role: str, name: str):
    user = User.objects.create_user(name, f"{name}@example.org", "a-long-password-1", is_staff=True)
    Membership.objects.create(campaign=campaign, user=user, role=role)
    client.force_login(user)
    return client


def shows(response, text: str) -> bool:
    return text in response.content.decode()


def test_an_organizer_sees_and_changes_only_their_campaign(client, campaigns):
    a, b = campaigns["a"], campaigns["b"]
    organizer = member(client, a, Membership.MANAGER, "alice")
    listing = organizer.get("/admin/fundraiser/campaign/")
    assert listing.status_code == 200 and shows(listing, "gala-a") and not shows(listing, "Secret Ball")
    assert organizer.get(f"/admin/fundraiser/campaign/{a.pk}/change/").status_code == 200
    for url in (
        f"/admin/fundraiser/campaign/{b.pk}/change/",
        f"/admin/fundraiser/campaign/{b.pk}/history/",
        f"/admin/fundraiser/campaign/{b.pk}/delete/",
        f"/admin/fundraiser/adjustment/{campaigns['adjustment_b'].pk}/change/",
        f"/admin/fundraiser/verification/{campaigns['run_b'].pk}/report/",
        f"/admin/fundraiser/giftmoderation/campaign/{b.pk}/",
        f"/admin/fundraiser/adjustment/paddle/{b.pk}/",
    ):
        response = organizer.get(url, follow=True)
        assert not shows(response, "Secret Ball") and not shows(response, "Cash of B"), url
        assert response.status_code in (403, 404) or response.redirect_chain, url
    for url in (f"/admin/fundraiser/metric/?campaign__id__exact={b.pk}", "/admin/fundraiser/goal/", "/admin/fundraiser/adjustment/",
                "/admin/fundraiser/verification/", "/admin/fundraiser/giftmoderation/",
                "/admin/fundraiser/paddlelevel/"):  # fmt: skip
        response = organizer.get(url)
        assert (
            response.status_code == 200 and not shows(response, "gala-b") and not shows(response, "Secret")
        ), url
    health = organizer.get("/admin/fundraiser/campaign/health.json").json()
    assert set(health["campaigns"]) == {"gala-a"}


def test_an_organizer_cannot_change_another_campaign_by_post(client, campaigns, store):
    a, b = campaigns["a"], campaigns["b"]
    organizer = member(client, a, Membership.MANAGER, "alice")
    organizer.post(
        "/admin/fundraiser/campaign/", {"action": "rebuild_aggregates", "_selected_action": [b.pk]}
    )
    assert not store.meta(b.pk), "no rebuild of campaign B was started"
    organizer.post(f"/admin/fundraiser/campaign/{b.pk}/change/", {"name": "Hijacked"})
    b.refresh_from_db()
    assert b.name == "Secret Ball"
    response = organizer.post(
        "/admin/fundraiser/adjustment/add/", {"campaign": b.pk, "amount": "100", "group": "Cash"}
    )
    assert response.status_code == 200 and not Adjustment.objects.filter(campaign=b, group="Cash").exists()
    assert organizer.post(f"/admin/fundraiser/adjustment/paddle/{b.pk}/", {"paddle": "7"}).status_code == 403
    assert (
        organizer.post(f"/admin/fundraiser/giftmoderation/campaign/{b.pk}/", {"action": "words"}).status_code
        == 403
    )
    organizer.post(
        "/admin/fundraiser/adjustment/",
        {"action": "reverse", "_selected_action": [campaigns["adjustment_b"].pk]},
    )
    assert not Adjustment.objects.get(pk=campaigns["adjustment_b"].pk).is_reversed


def test_an_organizer_reaches_no_screen_of_another_campaign(client, campaigns):
    organizer = member(client, campaigns["a"], Membership.MANAGER, "alice")
    listing = organizer.get("/admin/fundraiser/screen/")
    assert listing.status_code == 200
    assert shows(listing, "screen of gala-a") and not shows(listing, "screen of gala-b")
    assert not shows(listing, "Secret Ball"), "the campaign filter lists only the organizer's campaigns"
    theirs = campaigns["screens"]["gala-b"].pk
    for url in (
        f"/admin/fundraiser/screen/{theirs}/change/",
        f"/admin/fundraiser/screen/{theirs}/preview/",
        f"/admin/fundraiser/screen/{theirs}/preview/snapshot.json",
        f"/admin/fundraiser/screen/{theirs}/preview/events/",
    ):
        response = organizer.get(url, follow=True)
        assert response.status_code in (403, 404) or response.redirect_chain, url
        assert not shows(response, "Secret Ball"), url
    ours = campaigns["screens"]["gala-a"].pk
    assert organizer.get(f"/admin/fundraiser/screen/{ours}/preview/snapshot.json").status_code == 200
    organizer.post("/admin/fundraiser/screen/", {"action": "revoke", "_selected_action": [theirs]})
    assert not Screen.objects.get(pk=theirs).is_revoked


def test_a_volunteer_only_records_adjustments_and_paddles(client, campaigns):
    a = campaigns["a"]
    volunteer = member(client, a, Membership.VOLUNTEER, "victor")
    for url in (
        "/admin/fundraiser/campaign/",
        f"/admin/fundraiser/campaign/{a.pk}/change/",
        "/admin/fundraiser/screen/",
        "/admin/fundraiser/metric/",
        "/admin/fundraiser/verification/",
        f"/admin/fundraiser/giftmoderation/campaign/{a.pk}/",
        "/admin/fundraiser/campaign/health.json",
    ):
        assert volunteer.get(url).status_code == 403, url
    assert volunteer.get("/admin/fundraiser/adjustment/").status_code == 200
    form = form_with(volunteer.get("/admin/fundraiser/adjustment/add/").content.decode(), "form_token")
    response = volunteer.post(
        "/admin/fundraiser/adjustment/add/",
        {**form, "campaign": a.pk, "amount": "120.50", "group": "Cash in the room", "note": "envelope 3"},
    )
    assert response.status_code == 302
    cash = Adjustment.objects.get(campaign=a, group="Cash in the room")
    assert cash.created_by.username == "victor" and cash.amount == Decimal("120.50")
    level = PaddleLevel.objects.get(campaign=a)
    console = f"/admin/fundraiser/adjustment/paddle/{a.pk}/"
    entry = form_with(volunteer.get(console).content.decode(), "form_token")
    volunteer.post(console, {**entry, "paddle": "123", "level": level.pk})
    paddle = Adjustment.objects.get(campaign=a, kind=Adjustment.PADDLE)
    assert (paddle.paddle, paddle.amount) == ("123", Decimal("1000"))
    volunteer.post(console, {**form_with(volunteer.get(console).content.decode(), "undo_entry"), "undo": "1"})
    paddle.refresh_from_db()
    assert paddle.is_reversed and paddle.version == 2 and paddle.reversed_by.username == "victor"
    assert volunteer.get(f"/admin/fundraiser/adjustment/{cash.pk}/delete/").status_code == 403
