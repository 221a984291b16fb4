"""Review of issue 11 (paddle console): "Undo last" posted no id, and the server reversed whatever
was that volunteer's newest paddle when the POST arrived: a double click (or a resent form) took
back two paddles, and a page whose button read "Undo last: paddle #12" undid another paddle if one
was recorded meanwhile (another tab, a retry). Recording had the same shape: one Enter resent
recorded the paddle twice. Now the undo form names its entry, and each entry form carries a
one-time token: a form sent twice changes nothing the second time, and says so."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from fundraiser.models import Adjustment, Membership, PaddleLevel
from tests.factories import make_campaign
from tests.forms import form_with

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


def entry_form(client, url, number: str) -> dict[str, str]:
    """The entry form as the page has it, with a paddle number typed (Enter sends it)."""
    return {**form_with(client.get(url).content.decode(), "form_token"), "paddle": number}


def undo_form(page: str) -> dict[str, str]:
    """The undo form as the page has it, with its button clicked."""
    return {**form_with(page, "undo_entry"), "undo": "1"}


def record(client, url, number: str):
    return client.post(url, entry_form(client, url, number), follow=True)


def said(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_a_double_click_on_undo_takes_back_one_paddle(console):
    client, url, level = console
    for number in ("11", "12"):
        record(client, url, number)
    page = client.get(url).content.decode()
    assert "Undo last: paddle #12" in page
    undo = undo_form(page)
    client.post(url, undo)
    second = client.post(url, undo, follow=True)  # the same button, clicked twice
    print("after one double-clicked undo:", paddles(), said(second))
    assert paddles() == {"11": False, "12": True}, "one click-intent reversed two paddles"
    assert any("already undone" in text for text in said(second))


def test_undo_takes_back_the_paddle_its_button_names(console):
    client, url, level = console
    record(client, url, "12")
    page = client.get(url).content.decode()
    assert "Undo last: paddle #12" in page  # what the volunteer sees and means
    record(client, url, "77")  # recorded from a second tab meanwhile
    client.post(url, undo_form(page))  # clicks "Undo last: paddle #12"
    print("after undo of #12:", paddles())
    assert paddles() == {"12": True, "77": False}


def test_a_resent_enter_records_the_paddle_once(console):
    client, url, level = console
    entry = entry_form(client, url, "123")
    client.post(url, entry)
    again = client.post(url, entry, follow=True)  # a double Enter / the browser resending the POST
    rows = Adjustment.objects.filter(kind=Adjustment.PADDLE, paddle="123", reversed_at__isnull=True)
    print("paddle #123 counted", rows.count(), "times; total", sum(r.amount for r in rows), said(again))
    assert rows.count() == 1
    assert any("already recorded" in text for text in said(again))


def test_a_post_without_the_pages_token_or_entry_records_and_undoes_nothing(console):
    client, url, level = console
    client.post(url, {"paddle": "5", "level": level.pk})  # an old page, or a crafted POST
    record(client, url, "6")
    client.post(url, {"undo": "1", "level": level.pk})  # the old undo form: names no entry
    assert paddles() == {"6": False}


def test_the_admin_add_form_sent_twice_records_one_adjustment(console):
    client, _url, _level = console
    form = form_with(client.get("/admin/fundraiser/adjustment/add/").content.decode(), "form_token")
    campaign = PaddleLevel.objects.get().campaign
    sent = {**form, "campaign": campaign.pk, "amount": "80", "group": "Cash in the room", "note": "box 2"}
    assert client.post("/admin/fundraiser/adjustment/add/", sent).status_code == 302
    again = client.post("/admin/fundraiser/adjustment/add/", sent)
    assert again.status_code == 200 and "already sent and recorded" in again.content.decode()
    assert Adjustment.objects.filter(group="Cash in the room").count() == 1
