"""Review of issue 11 (paddle console): "Undo last" posts no id; the server reverses whatever is
that volunteer's newest paddle when the POST arrives. A double click (or a resent form) takes back
two paddles, and a page whose button reads "Undo last: paddle #12" undoes another paddle if one
was recorded meanwhile (another tab, a retry). Recording has the same shape: one Enter resent
records the paddle twice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from fundraiser.models import Adjustment, Membership, PaddleLevel
from tests.factories import make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(client, store):
    campaign = make_campaign()
    level = PaddleLevel.objects.create(campaign=campaign, amount=Decimal("1000"), label="A month of meals")
    user = User.objects.create_user("vic", "v@example.org", "a-long-password-1", is_staff=True)
    Membership.objects.create(campaign=campaign, user=user, role=Membership.VOLUNTEER)
    client.force_login(user)
    return client, f"/admin/fundraiser/adjustment/paddle/{campaign.pk}/", level


def paddles():
    return {row.paddle: row.is_reversed for row in Adjustment.objects.filter(kind=Adjustment.PADDLE)}


def test_a_double_click_on_undo_takes_back_two_paddles(console):
    client, url, level = console
    for number in ("11", "12"):
        client.post(url, {"paddle": number, "level": level.pk})
    page = client.get(url).content.decode()
    assert "Undo last: paddle #12" in page
    undo = {"undo": "1", "level": level.pk}  # the undo form, exactly as the page has it
    client.post(url, undo)
    client.post(url, undo)  # the same button, clicked twice
    print("after one double-clicked undo:", paddles())
    assert paddles() == {"11": False, "12": True}, "one click-intent reversed two paddles"


def test_undo_takes_back_a_paddle_other_than_the_one_its_button_names(console):
    client, url, level = console
    client.post(url, {"paddle": "12", "level": level.pk})
    page = client.get(url).content.decode()
    assert "Undo last: paddle #12" in page  # what the volunteer sees and means
    client.post(url, {"paddle": "77", "level": level.pk})  # recorded from a second tab meanwhile
    client.post(url, {"undo": "1", "level": level.pk})  # clicks "Undo last: paddle #12"
    print("after undo of #12:", paddles())
    assert paddles() == {"12": True, "77": False}


def test_a_resent_enter_records_the_paddle_twice(console):
    client, url, level = console
    entry = {"paddle": "123", "level": level.pk}
    client.post(url, entry)
    client.post(url, entry)  # a double Enter / the browser resending the POST
    rows = Adjustment.objects.filter(kind=Adjustment.PADDLE, paddle="123", reversed_at__isnull=True)
    print("paddle #123 counted", rows.count(), "times; total", sum(r.amount for r in rows))
    assert rows.count() == 1
