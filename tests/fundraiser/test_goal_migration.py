"""The data migration to one goal: what the screens showed is what the campaign form now says."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("fundraiser", "0003_public_state")]
AFTER = [("fundraiser", "0004_campaign_goal_is_the_headline_goal")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def back_to_the_latest():
    """Whatever happens, the database ends at the latest migrations again: the tests after this
    one need every table (a migration test that stops half-way leaves later ones without theirs)."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_headline_goal_target_becomes_the_campaign_goal_and_a_lone_amount_gets_a_goal(back_to_the_latest):
    apps = migrate(BEFORE)
    Campaign, Metric, Goal = (apps.get_model("fundraiser", m) for m in ("Campaign", "Metric", "Goal"))
    shown = Campaign.objects.create(name="A", slug="a", table_name="T", goal_amount=Decimal("10"))
    raised = Metric.objects.create(campaign=shown, slug="raised", aggregation="sum", value_path="amount")
    shown.headline_goal = Goal.objects.create(metric=raised, target=Decimal("12500.000000"))
    shown.save()
    lone = Campaign.objects.create(name="B", slug="b", table_name="T", goal_amount=Decimal("5000"))
    Metric.objects.create(campaign=lone, slug="gifts", aggregation="count")
    Metric.objects.create(campaign=lone, slug="raised", aggregation="sum", value_path="amount")

    apps = migrate(AFTER)
    Campaign = apps.get_model("fundraiser", "Campaign")
    shown, lone = Campaign.objects.get(slug="a"), Campaign.objects.get(slug="b")
    assert shown.goal_amount == Decimal("12500") and shown.headline_goal.target == Decimal("12500")
    assert lone.headline_goal.metric.slug == "raised" and lone.headline_goal.target == Decimal("5000")
