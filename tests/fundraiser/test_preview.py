"""The Preview step: the first donations of the table, run through the engine's own evaluation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from fundraiser.models import Campaign
from tests.factories import make_table

from .organizer import RAISED, campaign_form

pytestmark = pytest.mark.django_db
ADD = "/admin/fundraiser/campaign/add/"
GIFTS = [
    {"id": "g1", "email": "a@x.test", "platform": "Website", "amount": Decimal("12.50"), "name": "Ada"},
    {"id": "g2", "email": "b@x.test", "platform": "Gala", "amount": Decimal("100"), "name": "Grace"},
    {"id": "g3", "email": "c@x.test", "platform": "Gala", "amount": "ten", "name": "<b>Sam</b>"},
]


@pytest.fixture
def organizer(client):
    client.force_login(User.objects.create_superuser("organizer", "o@example.org", "a-long-password-1"))
    return client


@pytest.fixture
def table(moto):
    table = make_table(moto.url)
    for gift in GIFTS:
        table.put_item(Item=gift)
    return table


def preview(organizer, moto, **metric) -> str:
    raised = {**RAISED, **metric}
    form = campaign_form(endpoint_url=moto.url, metrics=[raised], _preview="Preview")
    response = organizer.post(ADD, form)
    assert response.status_code == 200
    assert not Campaign.objects.exists()  # a preview never saves
    return response.content.decode()


def test_a_wrong_path_is_flagged_with_its_near_miss_before_saving(organizer, moto, table):
    page = preview(organizer, moto, value_path="Amount")
    assert "Preview — nothing was saved" in page
    assert (
        "Raised: no donation in the sample has the value attribute “Amount”. Did you mean “amount”?" in page
    )
    assert "no: missing Amount" in page
    assert "3 would not be counted" in page


def test_a_right_path_shows_the_sampled_values_and_the_rejects_with_why(organizer, moto, table):
    page = preview(organizer, moto)
    assert "The table can be read." in page and "NEW_AND_OLD_IMAGES" in page
    assert 'id="fr-preview-flags"' not in page
    assert "$12.50 · Website" in page and "$100.00 · Gala" in page
    assert "no: amount &#x27;ten&#x27; is not a number" in page
    assert "1 would not be counted" in page
    assert "<b>Sam</b>" not in page  # whatever a donor typed is escaped (and names are not shown)


def test_a_preview_of_a_table_without_a_stream_says_so_and_how_to_fix_it(organizer, moto):
    make_table(moto.url, view_type=None)
    page = preview(organizer, moto)
    assert "The donation table cannot be read yet" in page
    assert "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES" in page
