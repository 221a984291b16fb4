"""The demo campaign (devtools/campaign.py): one definition, the same with or without a database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from devtools.campaign import DemoCampaign
from fundraiser.selectors import campaign_config

pytestmark = pytest.mark.django_db


def test_the_config_without_a_database_is_what_the_models_give_the_engine():
    for demo in (DemoCampaign(), DemoCampaign(slug="gala", name="Gala", goal=Decimal("1234.56"))):
        campaign = demo.ensure()
        assert demo.engine_config(campaign.pk) == campaign_config(campaign)


def test_ensuring_it_again_points_it_at_the_table_and_keeps_the_organizers_edits():
    campaign = DemoCampaign(table_name="Old").ensure()
    campaign.name = "Renamed by an organizer"
    campaign.is_active = False
    campaign.save()
    campaign.metrics.filter(slug="gifts").update(label="Gifts tonight")

    again = DemoCampaign(table_name="Donations", endpoint_url="http://127.0.0.1:8001").ensure()
    assert again.pk == campaign.pk and again.name == "Renamed by an organizer"
    assert (again.table_name, again.endpoint_url, again.is_active) == (
        "Donations",
        "http://127.0.0.1:8001",
        True,
    )
    assert again.metrics.get(slug="gifts").label == "Gifts tonight"
    assert again.metrics.count() == 3 and again.headline_goal.metric.slug == "raised"
